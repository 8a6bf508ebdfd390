from django.conf import settings
from django.db import models
from uuid6 import uuid7


class Event(models.Model):
    """Something that happened, written in the same transaction as the change (the outbox).

    `dispatched_at` stays empty until a worker has handed the event to its consumers; the relay
    dispatches again whatever stays empty too long.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    type = models.CharField(max_length=64, db_index=True, help_text="One of the registered types (`events.registry`).")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        help_text="The customer the event is about; empty for store-wide events (inventory).",
    )
    subject = models.CharField(
        max_length=100, db_index=True, help_text="What the event is about: `order/<id>`, `pet/<id>`…"
    )
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"], name="event_undispatched_idx", condition=models.Q(dispatched_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def envelope(self) -> dict:
        """The event as API clients and webhook receivers see it."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }
