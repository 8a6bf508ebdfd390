from django.conf import settings
from django.db import models
from django.db.models.expressions import Func
from django.utils import timezone
from uuid6 import uuid7


def default_relay_at():
    return timezone.now() + settings.OUTBOX_RELAY_AFTER


class CurrentTransactionId(Func):
    """The writing transaction's id, as the database assigns it: the first half of an event's
    commit position (see `events.outbox.positions`). On SQLite, whose writers take turns from BEGIN to
    COMMIT, ids are already in commit order and this is 0."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


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
    subject = models.CharField(max_length=100, help_text="What the event is about: `order/<id>`, `pet/<id>`…")
    sequence = models.PositiveIntegerField(
        help_text="The subject's events counted from 1, with no gaps (`SubjectSequence`)."
    )
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    relay_at = models.DateTimeField(
        default=default_relay_at, help_text="If still undispatched then, the relay hands the event on again."
    )
    relay_attempts = models.PositiveSmallIntegerField(default=0)
    bus_publish_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while the event bus has not confirmed the event: the relay publishes it then. "
        "Empty once confirmed, or when there was no bus.",
    )
    bus_publish_attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    txid = models.BigIntegerField(
        db_default=CurrentTransactionId(),
        editable=False,
        help_text="The id of the transaction that wrote the event: (txid, id) is its place in commit order.",
    )
    traceparent = models.CharField(
        max_length=55,
        blank=True,
        default="",
        help_text="W3C trace context of the span that recorded the event: what it causes continues that trace.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["subject", "sequence"], name="one_event_per_subject_sequence")]
        indexes = [
            models.Index(
                fields=["relay_at"], name="event_to_relay_idx", condition=models.Q(dispatched_at__isnull=True)
            ),
            models.Index(
                fields=["bus_publish_at"], name="event_to_publish_idx", condition=models.Q(bus_publish_at__isnull=False)
            ),
            models.Index(fields=["txid", "id"], name="event_commit_position_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def envelope(self) -> dict:
        """The event as API clients and webhook receivers see it."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "subject": self.subject,
            "sequence": self.sequence,
            "data": self.data,
        }


class SubjectSequence(models.Model):
    """The last sequence number given to a subject's events. Its row is bumped in the transaction
    that records them, so concurrent transactions of one subject take their numbers in turn, and
    a rollback gives its numbers back: no gap, no repeat."""

    subject = models.CharField(max_length=100, primary_key=True)
    last = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.subject}: {self.last}"
