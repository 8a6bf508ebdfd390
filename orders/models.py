from django.conf import settings
from django.db import models
from django.utils import timezone
from uuid6 import uuid7


class OrderStatus(models.TextChoices):
    PLACED = "placed"
    APPROVED = "approved"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class PaymentStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class CancelReason(models.TextChoices):
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_TIMEOUT = "payment_timeout"


class PaymentMethod(models.TextChoices):
    CARD = "card"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    payment_token = models.CharField(max_length=255)
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    charge_id = models.CharField(max_length=100, blank=True)
    cancel_reason = models.CharField(max_length=30, choices=CancelReason.choices, null=True, blank=True)  # noqa: DJ001 - the API shows null
    stock_committed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    steps_left = models.BooleanField(
        default=True, help_text="The pipeline still has a step to take; the stalled-order sweep reads only these."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "payment_status", "created_at"], name="order_unpaid_idx"),
            models.Index(fields=["updated_at"], name="order_steps_left_idx", condition=models.Q(steps_left=True)),
        ]

    def __str__(self) -> str:
        return f"Order {self.id}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    pet = models.ForeignKey("inventory.Pet", on_delete=models.PROTECT, related_name="order_items")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.pet.name}"


class EmailKind(models.TextChoices):
    CONFIRMATION = "confirmation"
    CANCELLATION = "cancellation"
    SHIPPING = "shipping"


class OrderEmail(models.Model):
    """One row per order and kind, written in the transaction that sends the mail, so that two
    workers never both send it. (`claimed_at` without `sent_at`: a claim of an earlier release.)"""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=EmailKind.choices)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="one_email_per_order_and_kind")]

    def __str__(self) -> str:
        return self.get_kind_display()


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` a customer sent with a new order, kept for 24 hours."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_order_per_idempotency_key")]

    def __str__(self) -> str:
        return self.key
