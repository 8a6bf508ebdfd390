"""The outbox: events written in their change's transaction, and how they reach their consumers.

An event is recorded (`publish`) in the caller's transaction and dispatched (`dispatch`: handed
to the `events_published` receivers and marked dispatched) by one of two routes, which the caller
chooses in plain sight:

- **Queued**, the default (a web request, a management command, the webhook sender's threads):
  the event is written undispatched and, once the transaction commits, queued by its id
  (`events.handoff`) to the `events.dispatch_event` task, which dispatches it in a worker. The
  request answers at once.
- **Here**, for a worker's task that wraps its service call in `with dispatching_here():`
  (`orders.tasks`): the worker is already in the background, so `dispatch` runs right there,
  inside the transaction that records the event, and the event is written already dispatched.
  The consumers' work becomes part of the change: the webhook deliveries are rows of the same
  commit (sent by this worker once it commits), and the order's next steps are queued once it
  commits. No trip through the broker, no second UPDATE.

Either way `dispatch` runs in a worker, and its consumers start their work there.

What runs once a transaction that recorded or dispatched events has committed, all of it here or
in a consumer named below (`robust`: a failure is logged and the commit stands):

| after the commit of        | what                                                   | where                          |
| -------------------------- | ------------------------------------------------------ | ------------------------------ |
| recording, either route    | open event streams told to look                        | `events.wakeup.notify`         |
| recording, queued route    | each event queued for dispatch by id                   | `events.handoff`               |
| dispatch, either route     | counted (`petstore_events_published_total`), logged    | `_dispatched`                  |
| dispatch, with a bus       | published to the event bus                             | `publish_to_bus`               |
| dispatch: orders' receiver | the steps that follow the event queued                 | `orders.receivers`             |
| dispatch: webhooks'        | the new deliveries handed to this worker's sender      | `webhooks.receivers`, `fanout` |

With an event bus (`EVENT_BUS_URL`), events are written awaiting the bus (`bus_publish_at`), and
forgotten by it once it has confirmed them; what it did not confirm (it was down, or slow) the
relay publishes later (`events.relay_unpublished_events`), each event once per attempt with the
same backoff. A request neither waits for the bus nor fails for it.

Either way nothing is lost: a queued event stays undispatched until a worker has handed it on,
and the relay (`events.relay_undispatched_events`, on beat) queues it again if the broker lost it;
`dispatch` marks events only after their consumers ran, so a worker that dies between the two
leaves them to the relay; work a worker started after its commit and then lost with the worker is
found again from the database (the due-delivery sweep, the stalled-order sweep). Consumers are
idempotent.

Either way, too, the event keeps the trace it was recorded in (`Event.traceparent`, in the row and
in the dispatch message): its dispatch task, the relay's hand-off of it and each of its webhook
attempts continue that trace, in whatever process and however late they run.
"""

import contextvars
import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core import log_context, tracing
from core.pruning import delete_in_batches
from events import bus, handoff, wakeup
from events.metrics import EVENTS_PUBLISHED
from events.models import Event, SubjectSequence, default_relay_at
from events.signals import events_published

logger = logging.getLogger(__name__)


_batch: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("outbox_batch", default=None)
_here: contextvars.ContextVar[bool] = contextvars.ContextVar("outbox_dispatching_here", default=False)


@contextmanager
def dispatching_here() -> Iterator[None]:
    """For a worker's task, around its service call: the events recorded inside are dispatched by
    this worker, in their recording transaction (the route "here" above)."""
    token = _here.set(True)
    try:
        yield
    finally:
        _here.reset(token)


def publish(*, type: str, subject: str, data: dict, owner: User | None = None) -> Event:
    """Record an event in the caller's transaction and dispatch it by the caller's route (above).
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
    """Write the events in the caller's transaction, numbered, and dispatch them here or queue
    them once it commits. Each event keeps the trace it was recorded in: whatever it causes, on
    either route or through the relay, continues that trace."""
    traceparent = tracing.current_traceparent()
    for event in events:
        event.traceparent = event.traceparent or traceparent
    _number(events)
    transaction.on_commit(lambda: wakeup.notify(owner_ids={event.owner_id for event in events}), robust=True)
    if bus.enabled():
        publish_at = default_relay_at()
        for event in events:
            event.bus_publish_at = publish_at
    here = _here.get()
    if here:  # written dispatched: no UPDATE after
        now = timezone.now()
        for event in events:
            event.dispatched_at = now
    Event.objects.bulk_create(events)
    if here:
        dispatch(events, written_dispatched=True)
    else:
        handoff.queue_dispatch_after_commit(events)


def _number(events: list[Event]) -> None:
    """Give each event the next sequence number of its subject, in one statement for the batch.

    The counter rows stay locked until the caller's transaction ends: a concurrent transaction of
    the same subject waits for it and then counts on from its numbers, and a rollback gives the
    numbers back. Subjects are taken in sorted order, so two transactions recording events of the
    same subjects (an order and its pets) never wait for each other in a circle."""
    counts = Counter(event.subject for event in events)
    subjects = sorted(counts)
    table = connection.ops.quote_name(SubjectSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (subject, last) VALUES {', '.join(['(%s, %s)'] * len(subjects))}"
            f" ON CONFLICT (subject) DO UPDATE SET last = {table}.last + excluded.last RETURNING subject, last",
            [value for subject in subjects for value in (subject, counts[subject])],
        )
        last = dict(cursor.fetchall())
    for event in events:  # the batch's events of one subject, numbered in the order they were published
        event.sequence = last[event.subject] - counts[event.subject] + 1
        counts[event.subject] -= 1


def dispatch_by_id(*, event_id: uuid.UUID | str) -> None:
    """Dispatch a queued event, as the database holds it: a message names the event, and its
    consumers (webhooks signed and sent) never take more from the message than that. An id the
    database does not hold is logged and dispatches nothing."""
    try:
        event = Event.objects.filter(id=event_id).first()
    except ValidationError:  # not even an id
        event = None
    if event is None:  # its transaction rolled back, or the message is not ours
        logger.warning("dispatch of event %s skipped: no such event", str(event_id)[:64])
        return
    dispatch([event])


def dispatch(events: Sequence[Event], *, written_dispatched: bool = False) -> None:
    """Hand events to their consumers (the `events_published` receivers), then mark them
    dispatched: the one dispatch of both routes. Events the route "here" wrote already dispatched
    (`written_dispatched`) need no mark; others are marked unless another dispatch of them did
    (the relay handed one on twice), and only the dispatch that marks them counts them and
    publishes them to the bus, once the transaction commits."""
    log_context.bind(event_id=events[0].id)
    log_context.bind_subject(events[0].subject)
    events_published.send(sender=Event, events=events)
    if written_dispatched or _mark_dispatched(events):
        transaction.on_commit(lambda: _dispatched(events), robust=True)


def _mark_dispatched(events: Sequence[Event]) -> int:
    undispatched = Event.objects.filter(id__in=[event.id for event in events], dispatched_at__isnull=True)
    return undispatched.update(dispatched_at=timezone.now())


def _dispatched(events: Sequence[Event]) -> None:
    for event in events:
        EVENTS_PUBLISHED.labels(event.type).inc()
        logger.info("%s dispatched", event.type)
    if bus.enabled():
        publish_to_bus(events)


def publish_to_bus(events: Sequence[Event]) -> None:
    """Publish committed events to the event bus, and forget those it confirmed; the others stay
    awaiting it, for the relay."""
    if confirmed := bus.publish_batch(events):
        Event.objects.filter(id__in=confirmed).update(bus_publish_at=None)


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


def prune_events() -> int:
    """Dispatched events older than EVENT_RETENTION that no delivery refers to any more (succeeded
    deliveries are pruned first; failed ones keep their event for a replay)."""
    cutoff = timezone.now() - settings.EVENT_RETENTION
    old = Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False, bus_publish_at__isnull=True)
    return delete_in_batches(old.filter(deliveries__isnull=True))  # `deliveries`: webhooks' reverse relation
