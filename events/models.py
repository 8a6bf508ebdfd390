from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from uuid6 import uuid7


def default_relay_at():
    return timezone.now() + settings.OUTBOX_RELAY_AFTER


class Event(models.Model):
    """Something that happened, written in the same transaction as the change (the outbox).

    `dispatched_at` stays empty until a worker has handed the event to its consumers; the relay
    hands again whatever is still undispatched at `relay_at`, each time a little later.
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
    relay_at = models.DateTimeField(
        default=default_relay_at, help_text="If still undispatched then, the relay hands the event on again."
    )
    relay_attempts = models.PositiveSmallIntegerField(default=0)
    traceparent = models.CharField(
        max_length=55,
        blank=True,
        default="",
        help_text="W3C trace context of the span that recorded the event: what it causes continues that trace.",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["relay_at"], name="event_to_relay_idx", condition=models.Q(dispatched_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    MESSAGE_FIELDS = ("id", "type", "owner_id", "subject", "data", "created_at", "traceparent")

    def as_message(self) -> dict:
        """The event as a task message carries it, so that the worker need not read it back."""
        return {
            "id": str(self.id),
            "type": self.type,
            "owner_id": self.owner_id,
            "subject": self.subject,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
            "traceparent": self.traceparent,
        }

    @classmethod
    def from_message(cls, message: dict) -> "Event":
        return cls(**{**message, "created_at": datetime.fromisoformat(message["created_at"])})

    def envelope(self) -> dict:
        """The event as API clients and webhook receivers see it."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }
