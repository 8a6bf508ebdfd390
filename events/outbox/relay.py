"""The relays, on beat: undispatched events claimed to be handed on again, and events the bus did
not confirm published again, each once per attempt with a backoff."""

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.bus import rabbitmq as bus
from events.models import Event


def relay_to_bus(*, limit: int = 1000, batch_size: int = 100) -> int:
    """Publish the events the bus has not confirmed and whose time has come (each once per attempt,
    with the relay's backoff); how many were confirmed."""
    confirmed = 0
    claimed = _claim(Event.objects.filter(bus_publish_at__lte=timezone.now()), "bus_publish", limit=limit)
    event_ids = [event_id for event_id, _ in claimed]
    for start in range(0, len(event_ids), batch_size):
        batch = list(Event.objects.filter(id__in=event_ids[start : start + batch_size]).order_by("id"))
        if batch and (ids := bus.publish_batch(batch)):
            confirmed += Event.objects.filter(id__in=ids).update(bus_publish_at=None)
        elif batch:
            break  # the bus is down: the rest waits for its next attempt
    return confirmed


def claim_events_to_relay(*, limit: int = 1000) -> list[tuple[uuid.UUID, str]]:
    """The undispatched events whose relay time has come, oldest first, each claimed for this
    attempt: its next relay time moves on with a backoff (OUTBOX_RELAY_AFTER, doubling up to
    OUTBOX_RELAY_MAX_DELAY), so the relay hands an event on once per attempt, not on every tick.
    Rows another relay holds are skipped. Each comes with its `traceparent`, which its hand-off
    continues."""
    due = Event.objects.filter(dispatched_at__isnull=True, relay_at__lte=timezone.now())
    return _claim(due, "relay", limit=limit)


def _claim(due, field: str, *, limit: int) -> list[tuple[uuid.UUID, str]]:
    """Claim the `due` events, oldest relay time first, for this attempt: `<field>_at` moves on
    with the backoff and `<field>_attempts` counts it. Rows another relay holds are skipped. Each
    comes with its `traceparent`."""
    at, attempts_field = f"{field}_at", f"{field}_attempts"
    now = timezone.now()
    with transaction.atomic():
        due = list(
            due.select_for_update(skip_locked=True)
            .order_by(at)
            .values_list("id", attempts_field, "traceparent")[:limit]
        )
        for attempts in {attempts for _, attempts, _ in due}:
            Event.objects.filter(id__in=[id for id, n, _ in due if n == attempts]).update(
                **{at: now + relay_backoff(attempts + 1), attempts_field: attempts + 1}
            )
    return [(id, traceparent) for id, _, traceparent in due]


def relay_backoff(attempts: int):
    return min(settings.OUTBOX_RELAY_AFTER * 2**attempts, settings.OUTBOX_RELAY_MAX_DELAY)
