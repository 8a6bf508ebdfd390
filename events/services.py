"""The outbox: events written in their change's transaction, and how they reach their consumers.

There are two dispatch routes, chosen where the event is recorded (`_record`):

- **From a web request** (or a management command): the event is written, and once the
  transaction commits it is queued (`events.receivers` hands it to a `dispatch_event` task on the
  `events` queue), so that the request answers at once and a worker dispatches it.
- **From a worker** (an event recorded by a task: `payment.succeeded`, `order.completed`…): the
  worker is already in the background, so the consumers run right there, inside the transaction
  that records the event, and the event is written already dispatched. Their work becomes part of
  the change: the webhook deliveries are rows of the same commit (sent by this worker once it
  commits), and the order's next steps are queued once it commits. No trip through the broker,
  no second UPDATE.

Either way nothing is lost: an event queued from a request stays undispatched until a worker has
handed it on, and the relay (`events.relay_undispatched_events`, on beat) queues it again if the
broker lost it; work a worker started after its commit and then lost with the worker is found
again from the database (the due-delivery sweep, the stalled-order sweep). Consumers are
idempotent.

Either way, too, the event keeps the trace it was recorded in (`Event.traceparent`, in the row and
in the dispatch message): its dispatch task, the relay's hand-off of it and each of its webhook
attempts continue that trace, in whatever process and however late they run.
"""

import contextvars
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core import log_context, tracing
from core.pruning import delete_in_batches
from core.workers import in_task
from events.metrics import EVENTS_PUBLISHED
from events.models import Event
from events.signals import events_published, events_recorded

logger = logging.getLogger(__name__)


_batch: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("outbox_batch", default=None)


def publish(*, type: str, subject: str, data: dict, owner: User | None = None) -> Event:
    """Record an event in the caller's transaction and dispatch it by one of the two routes above.
    If a hand-off after the commit fails (the broker cannot be reached, the worker dies), the
    caller still succeeds: what was lost is found again from the database.

    Inside `publishing_together()`, the event is written with the others when the block ends."""
    event = Event(type=type, subject=subject, data=data, owner=owner)
    if (batch := _batch.get()) is not None:
        batch.append(event)
    else:
        _record([event])
    return event


@contextmanager
def publishing_together() -> Iterator[None]:
    """The events published inside this block (in one transaction) are written in one INSERT as
    it ends, and dispatched together."""
    token = _batch.set(events := [])
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        _record(events)


def _record(events: list[Event]) -> None:
    """Write the events in the caller's transaction and dispatch them by one of the two routes.
    Each keeps the trace it was recorded in: whatever it causes, on either route or through the
    relay, continues that trace."""
    traceparent = tracing.current_traceparent()
    for event in events:
        event.traceparent = event.traceparent or traceparent
    if not in_task():
        Event.objects.bulk_create(events)
        transaction.on_commit(lambda: events_recorded.send(sender=Event, events=events), robust=True)
        return
    now = timezone.now()
    for event in events:
        event.dispatched_at = now
    Event.objects.bulk_create(events)
    _log_context(events)
    events_published.send(sender=Event, events=events)
    transaction.on_commit(lambda: _count_dispatched(events))


def dispatch_by_id(*, event_id: uuid.UUID, as_recorded: dict | None = None) -> None:
    """Dispatch an event queued from a request: as its message carries it, or read back (the
    relay sends only ids)."""
    if as_recorded is not None:
        dispatch(Event.from_message(as_recorded))
    elif (event := Event.objects.filter(id=event_id).first()) is not None:  # else its transaction rolled back
        dispatch(event)


def dispatch(event: Event) -> None:
    dispatch_all([event])


def dispatch_all(events: Sequence[Event]) -> None:
    """Hand events queued from a request to their consumers (signal receivers) and mark them
    dispatched, together."""
    _log_context(events)
    events_published.send(sender=Event, events=events)
    dispatched = Event.objects.filter(id__in=[event.id for event in events], dispatched_at__isnull=True)
    if dispatched.update(dispatched_at=timezone.now()):
        _count_dispatched(events)


def _log_context(events: Sequence[Event]) -> None:
    log_context.bind(event_id=events[0].id)
    log_context.bind_subject(events[0].subject)


def _count_dispatched(events: Sequence[Event]) -> None:
    for event in events:
        EVENTS_PUBLISHED.labels(event.type).inc()
        logger.info("%s dispatched", event.type)


def claim_events_to_relay(*, limit: int = 1000) -> list[tuple[uuid.UUID, str]]:
    """The undispatched events whose relay time has come, oldest first, each claimed for this
    attempt: its next relay time moves on with a backoff (OUTBOX_RELAY_AFTER, doubling up to
    OUTBOX_RELAY_MAX_DELAY), so the relay hands an event on once per attempt, not on every tick.
    Rows another relay holds are skipped. Each comes with its `traceparent`, which its hand-off
    continues."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True, relay_at__lte=now)
            .order_by("relay_at")
            .values_list("id", "relay_attempts", "traceparent")[:limit]
        )
        for attempts in {attempts for _, attempts, _ in due}:
            Event.objects.filter(id__in=[id for id, n, _ in due if n == attempts]).update(
                relay_at=now + relay_backoff(attempts + 1), relay_attempts=attempts + 1
            )
    return [(id, traceparent) for id, _, traceparent in due]


def relay_backoff(attempts: int):
    return min(settings.OUTBOX_RELAY_AFTER * 2**attempts, settings.OUTBOX_RELAY_MAX_DELAY)


def prune_events() -> int:
    """Dispatched events older than EVENT_RETENTION that no delivery refers to any more (succeeded
    deliveries are pruned first; failed ones keep their event for a replay)."""
    cutoff = timezone.now() - settings.EVENT_RETENTION
    old = Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False)
    return delete_in_batches(old.filter(deliveries__isnull=True))  # `deliveries`: webhooks' reverse relation
