from django.conf import settings
from django.db import models
from uuid6 import uuid7


class EventType(models.TextChoices):
    ORDER_CREATED = "order.created"
    ORDER_STATUS_CHANGED = "order.status_changed"
    ORDER_COMPLETED = "order.completed"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_SHIPPED = "order.shipped"
    ORDER_DELIVERED = "order.delivered"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REFUNDED = "payment.refunded"
    INVENTORY_UPDATED = "inventory.updated"
    INVENTORY_LOW_STOCK = "inventory.low_stock"
    WEBHOOK_TEST = "webhook.test"


class Event(models.Model):
    """Something that happened, written in the same transaction as the change (the outbox).

    `dispatched_at` stays empty until a worker has handed the event to its consumers; the relay
    dispatches again whatever stays empty too long.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    type = models.CharField(max_length=64, choices=EventType.choices, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        help_text="The customer the event is about; empty for store-wide events (inventory).",
    )
    subject_id = models.UUIDField(db_index=True, help_text="The order or pet the event is about.")
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

    @property
    def order_id(self):
        """The order this event is about, for order.* and payment.* events."""
        return self.subject_id if self.type.split(".", 1)[0] in ("order", "payment") else None

    def envelope(self) -> dict:
        """The event as API clients and webhook receivers see it."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }
