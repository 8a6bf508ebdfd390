"""The outbox: events written in their change's transaction, dispatched to consumers after it."""

import contextvars
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core import log_context
from core.pruning import delete_in_batches
from events.metrics import EVENTS_PUBLISHED
from events.models import Event
from events.signals import events_published, events_recorded

logger = logging.getLogger(__name__)


_batch: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("outbox_batch", default=None)


def publish(*, type: str, subject: str, data: dict, owner: User | None = None) -> Event:
    """Record an event in the caller's transaction; once that commits, it is handed on to be
    dispatched (`events.receivers` tells how). If the hand-off fails (the broker cannot be reached,
    the worker dies), the caller still succeeds: the event waits in the outbox for the relay.

    Inside `publishing_together()`, the event is written with the others when the block ends."""
    event = Event(type=type, subject=subject, data=data, owner=owner)
    if (batch := _batch.get()) is not None:
        batch.append(event)
    else:
        event.save(force_insert=True)
        _hand_on_after_commit([event])
    return event


@contextmanager
def publishing_together() -> Iterator[None]:
    """The events published inside this block (in one transaction) are written in one INSERT as
    it ends, and handed on together after the commit."""
    token = _batch.set(events := [])
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        Event.objects.bulk_create(events)
        _hand_on_after_commit(events)


def _hand_on_after_commit(events: list[Event]) -> None:
    transaction.on_commit(lambda: events_recorded.send(sender=Event, events=events), robust=True)


def dispatch_by_id(*, event_id: uuid.UUID) -> None:
    event = Event.objects.filter(id=event_id).select_related("owner").first()
    if event is not None:  # else its transaction rolled back after all
        dispatch(event)


def dispatch(event: Event) -> None:
    dispatch_all([event])


def dispatch_all(events: Sequence[Event]) -> None:
    """Hand events to their consumers (signal receivers) and mark them dispatched, together."""
    log_context.bind(event_id=events[0].id)
    log_context.bind_subject(events[0].subject)
    events_published.send(sender=Event, events=events)
    now = timezone.now()
    dispatched = Event.objects.filter(id__in=[event.id for event in events], dispatched_at__isnull=True)
    if dispatched.update(dispatched_at=now):
        for event in events:
            EVENTS_PUBLISHED.labels(event.type).inc()
            logger.info("%s dispatched", event.type)


def claim_events_to_relay(*, limit: int = 1000) -> list[uuid.UUID]:
    """The undispatched events whose relay time has come, oldest first, each claimed for this
    attempt: its next relay time moves on with a backoff (OUTBOX_RELAY_AFTER, doubling up to
    OUTBOX_RELAY_MAX_DELAY), so the relay hands an event on once per attempt, not on every tick.
    Rows another relay holds are skipped."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True, relay_at__lte=now)
            .order_by("relay_at")
            .values_list("id", "relay_attempts")[:limit]
        )
        for attempts in {attempts for _, attempts in due}:
            Event.objects.filter(id__in=[id for id, n in due if n == attempts]).update(
                relay_at=now + relay_backoff(attempts + 1), relay_attempts=attempts + 1
            )
    return [id for id, _ in due]


def relay_backoff(attempts: int):
    return min(settings.OUTBOX_RELAY_AFTER * 2**attempts, settings.OUTBOX_RELAY_MAX_DELAY)


def prune_events() -> int:
    """Dispatched events older than EVENT_RETENTION that no delivery refers to any more (succeeded
    deliveries are pruned first; failed ones keep their event for a replay)."""
    cutoff = timezone.now() - settings.EVENT_RETENTION
    old = Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False)
    return delete_in_batches(old.filter(deliveries__isnull=True))  # `deliveries`: webhooks' reverse relation
