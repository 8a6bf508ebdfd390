"""Endpoint, delivery, attempt: the vocabulary of the API, the admin and the docs alike."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from uuid6 import uuid7

from core.encryption import EncryptedTextField, Unreadable
from events.catalog import registry
from webhooks.signals import endpoints_changed

MAX_RATE_LIMIT = 10_000  # deliveries per second
MAX_EVENT_PATTERNS = 50


def validate_event_types(value) -> None:
    """What an endpoint may subscribe to: a list of 1 to MAX_EVENT_PATTERNS known patterns (exact
    types, `prefix.*` wildcards, `*`). The one rule, for the API and the admin alike: the fan-out
    reads these on every event, so nothing else may be stored."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_EVENT_PATTERNS:
        raise ValidationError(f"A list of 1 to {MAX_EVENT_PATTERNS} event types.", code="not_a_list_of_event_types")
    known = set(registry.known_patterns())
    if unknown := [pattern for pattern in value if not isinstance(pattern, str) or pattern not in known]:
        raise ValidationError(
            "Not an event type, a prefix.* wildcard nor *: %(unknown)s.",
            code="unknown_event_type",
            params={"unknown": ", ".join(repr(pattern) for pattern in unknown[:5])},
        )


class EndpointQuerySet(models.QuerySet):
    """Writes that bypass save() and delete() still announce themselves (`endpoints_changed`), so
    that no process fans out to subscriptions as they were (`webhooks.pipeline.subscribers`)."""

    def update(self, **kwargs) -> int:
        if updated := super().update(**kwargs):
            endpoints_changed.send(sender=Endpoint)
        return updated

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        endpoints_changed.send(sender=Endpoint)
        return created

    def bulk_update(self, objs, *args, **kwargs) -> int:
        updated = super().bulk_update(objs, *args, **kwargs)
        endpoints_changed.send(sender=Endpoint)
        return updated


class Endpoint(models.Model):
    """A URL that receives its owner's events, signed with its secret."""

    class Ordering(models.TextChoices):
        NONE = "none", "no order between events"
        PER_SUBJECT = "per_subject", "one subject's events one at a time, in sequence order"

    class DisabledReason(models.TextChoices):
        MANUAL = "manual", "disabled by its owner or staff"
        GONE = "gone", "the receiver answered 410 Gone"
        FAILING = "failing", "every delivery failed for too long"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(
        default=list,
        validators=[validate_event_types],
        help_text='Exact types and "prefix.*" wildcards; ["*"] is all.',
    )
    all_customers = models.BooleanField(default=False, help_text="Staff only: receive every customer's events.")
    ordering = models.CharField(
        max_length=20,
        choices=Ordering.choices,
        default=Ordering.NONE,
        help_text="per_subject: a subject's later event waits while an earlier one to this endpoint is pending.",
    )
    rate_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT)],
        help_text="Deliveries per second at most, across every worker; more wait. Empty: no limit.",
    )
    filter = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text='Only events whose envelope matches are delivered, e.g. {"data.order.total": {"$gte": "100.00"}} '
        "(dotted paths; $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $and $or $not: docs/architecture.md). "
        "Checked against the subscribed types' schemas when saved. Empty: every event.",
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=20, choices=DisabledReason.choices, blank=True)
    secret = EncryptedTextField(help_text="Stored encrypted (FIELD_ENCRYPTION_KEYS).")
    previous_secret = EncryptedTextField(blank=True, help_text="Signs beside the new one until it expires.")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failure since the last success.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.url

    @property
    def needs_secret_rotation(self) -> bool:
        """Its secret cannot be decrypted with today's FIELD_ENCRYPTION_KEYS: nothing can be signed
        until it is rotated (or the old key is put back)."""
        return isinstance(self.secret, Unreadable)

    def signing_secrets(self) -> list[str]:
        """The secrets that sign its deliveries now: the current one, and the previous one during
        its overlap after a rotation; those that cannot be decrypted are left out (none left: the
        delivery cannot be signed)."""
        secrets = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > timezone.now()
        ):
            secrets.append(self.previous_secret)
        return [secret for secret in secrets if not isinstance(secret, Unreadable)]

    def subscribes_to(self, event_type: str) -> bool:
        """Never raises, whatever was stored behind the validation's back (a queryset update)."""
        return isinstance(self.event_types, list) and any(
            isinstance(pattern, str)
            and (pattern in ("*", event_type) or (pattern.endswith(".*") and event_type.startswith(pattern[:-1])))
            for pattern in self.event_types
        )


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Delivery(models.Model):
    """One event to one endpoint: a row before it is a request."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    # Copied from the event for endpoints with per-subject ordering only, so that the line of a
    # subject is read from one index and unordered endpoints pay nothing for it.
    subject = models.CharField(max_length=100, blank=True, help_text="The event's subject, if the endpoint orders.")
    sequence = models.PositiveIntegerField(
        null=True, blank=True, help_text="The event's sequence, if the endpoint orders: it waits behind lower ones."
    )
    attempt_count = models.PositiveIntegerField(default=0)
    scheduled_attempts = models.PositiveIntegerField(
        default=0, help_text="Attempts since the delivery was last (re)started; they index the retry schedule."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the next attempt is due.")
    queued_until = models.DateTimeField(
        null=True, blank=True, help_text="Handed to the queue; not handed again before then."
    )
    sending_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then; nobody else may."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_event_and_endpoint")
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due_idx", condition=models.Q(status="pending")),
            models.Index(fields=["endpoint", "status", "updated_at"], name="delivery_endpoint_status_idx"),
            models.Index(fields=["status", "updated_at"], name="delivery_status_updated_idx"),
            models.Index(
                fields=["endpoint", "subject", "sequence"],
                name="delivery_subject_line_idx",
                condition=models.Q(status="pending", sequence__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint.url}"


class FailedDelivery(Delivery):
    """The admin's "Failed deliveries" list."""

    class Meta:
        proxy = True
        verbose_name_plural = "failed deliveries"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(db_index=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    response_body = models.TextField(blank=True, help_text="The first KiB of the response.")
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.response_status or self.error} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
