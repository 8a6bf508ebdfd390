"""The outbox: events written in their change's transaction, and how they reach their consumers.

An event is recorded (`record`) in the caller's transaction and dispatched (`dispatch`: handed
to the `events_published` receivers and marked dispatched) by one of two routes, which the caller
chooses in plain sight:

- **Queued**, the default (a web request, a management command, the webhook sender's threads):
  the event is written undispatched and, once the transaction commits, queued by its id
  (`events.outbox.handoff`; the events of one transaction in one message) to the
  `events.dispatch_event` task, which dispatches them in a worker. The request answers at once.
- **Here**, for a worker's task that wraps its service call in `with dispatching_here():`
  (`orders.tasks`): the worker is already in the background, so it dispatches the events itself,
  right there, in a transaction of their own, once the transactions that recorded them have
  committed and the block ends (the events of every transaction inside, together: an order's
  payment and its confirmation are dispatched as one). No trip through the broker, and the
  consumers' work (the webhook fan-out: a query, a Redis round trip, the delivery inserts) never
  runs while the change's rows are locked: a popular pet's row, or an order's, is held for the
  change alone. A worker that dies before the block ends leaves the committed events
  undispatched, for the relay; those of a transaction that rolled back were never written.

Either way `dispatch` runs in a worker, and its consumers start their work there.

What runs once a transaction that recorded or dispatched events has committed, all of it here or
in a consumer named below (`robust`: a failure is logged and the commit stands):

| after the commit of        | what                                                | where                          |
| -------------------------- | --------------------------------------------------- | ------------------------------ |
| recording, either route    | open event streams told to look                     | `events.outbox.wakeup.notify`  |
| recording, queued route    | the events queued by id, in one message             | `events.outbox.handoff`        |
| recording, route "here"    | the events kept for this worker's dispatch          | `dispatching_here()`           |
| recording with the COMMIT  | the events' numbers read from the COMMIT's answer   | `_number_and_insert`           |
| dispatch, either route     | counted (`petstore_events_published_total`), logged | `dispatch._dispatched`         |
| dispatch, with a bus       | published to the event bus                          | `dispatch.publish_to_bus`      |
| dispatch: orders' receiver | the steps that follow, taken by this worker         | `orders.tasks.take_steps`     |
| dispatch: webhooks'        | the new deliveries handed to this worker's sender   | `webhooks.receivers`, `fanout` |
| a payment, its mail failed | the confirmation queued as the mail's task          | `orders.handoff`               |

With an event bus (`EVENT_BUS_URL`), events are written awaiting the bus (`bus_publish_at`), and
forgotten by it once it has confirmed them; what it did not confirm (it was down, or slow) the
relay publishes later (`events.relay_unpublished_events`), each event once per attempt with the
same backoff. A request neither waits for the bus nor fails for it.

Either way nothing is lost: a queued event stays undispatched until a worker has handed it on,
and the relay (`events.relay_undispatched_events`, on beat) queues it again if the broker lost it;
`dispatch` marks events in the transaction in which their consumers run, so a worker that dies
before it commits leaves them to the relay; work a worker started after its commit and then lost with the worker is
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from django.contrib.auth.models import User
from django.db import connection, transaction

from core import tracing
from core.transactions import atomic_ending_with, send_with_the_commit
from events.bus import rabbitmq as bus
from events.models import Event, SubjectSequence, default_relay_at
from events.outbox import handoff, wakeup
from events.outbox.dispatch import dispatch

logger = logging.getLogger(__name__)


class _Batch(list):
    """The events recorded inside a block, written together as it ends, but for those that their
    change's own statement writes (`record_with_its_change`), named in `written_with_their_change`."""

    def __init__(self, events: Iterable[Event] = ()):
        super().__init__(events)
        self.written_with_their_change: set[uuid.UUID] = set()


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("outbox_batch", default=None)
# Inside `dispatching_here()`: the ids of the events committed so far, for the block's dispatch.
_here: contextvars.ContextVar[list[uuid.UUID] | None] = contextvars.ContextVar("outbox_dispatching_here", default=None)
# A block that commits more (a sweep cancelling a thousand unpaid orders) dispatches them as they
# reach this many, so that no dispatch names more ids than one statement should carry.
HERE_BATCH = 200


@contextmanager
def dispatching_here() -> Iterator[None]:
    """For a worker's task, around its service calls: the events recorded inside, by however many
    transactions, are dispatched by this worker together as the block ends (by HERE_BATCH before,
    if it commits more), those that committed (the route "here" above), even if the block ends in
    an error: what committed stands."""
    token = _here.set(committed := [])
    try:
        yield
    finally:
        _here.reset(token)
        _dispatch_here(committed)


def _dispatch_here(committed: list[uuid.UUID]) -> None:
    """Dispatch the committed events of a `dispatching_here()` block, and forget them."""
    if not committed:
        return
    event_ids = committed[:]
    committed.clear()
    try:
        dispatch(event_ids)
    except Exception:  # the events stay undispatched, and the relay hands them on
        logger.exception("dispatch of %d event(s) failed here: left to the relay", len(event_ids))


def _committed_here(committed: list[uuid.UUID], event_ids: list[uuid.UUID]) -> None:
    committed.extend(event_ids)
    if len(committed) >= HERE_BATCH:
        _dispatch_here(committed)


def record(*, type: str, subject: str, data: dict, owner: User | None = None) -> Event:
    """Record an event in the caller's transaction and dispatch it by the caller's route (above).
    If a hand-off after the commit fails (the broker cannot be reached, the worker dies), the
    caller still succeeds: what was lost is found again from the database.

    Inside `recording_together()`, the event is written with the others when the block ends."""
    event = Event(type=type, subject=subject, data=data, owner=owner)
    if (batch := _batch.get()) is not None:
        batch.append(event)
    else:
        _record(_Batch([event]))
    return event


@contextmanager
def recording_together() -> Iterator[None]:
    """The events recorded inside this block (in one transaction) are written in one INSERT as
    it ends, and dispatched together."""
    with _batched_into(events := _Batch()):
        yield
    if events:
        _record(events)


@contextmanager
def recording_with_the_commit(*, last: Callable[[], None] = lambda: None) -> Iterator[None]:
    """A transaction whose events are recorded together (`recording_together()`) and written by
    its last statements, sent with its COMMIT in one message (`core.transactions.atomic_ending_with`),
    after `last`'s: the change that `last` makes with its events (`record_with_its_change`: a
    popular pet's reservation) holds its rows for the server's time alone. The events' `sequence`
    and `txid` (and the data of those built by their change) are read from the answer, once it
    has committed."""
    events = _Batch()

    def write() -> None:
        with _batched_into(events):
            last()
        if events:
            _record(events)

    with atomic_ending_with(write), _batched_into(events):  # the batch closes before the write
        yield


@contextmanager
def _batched_into(events: _Batch) -> Iterator[None]:
    """`record()` inside the block appends to `events` instead of writing."""
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)


def record_with_its_change(
    change: str, params: Sequence, *, subject: str, types: Sequence[str], data: str, written_if: Sequence[str]
) -> None:
    """Record events of one `subject` in the statement that makes their change, for what Python
    cannot build before it runs (inside `recording_with_the_commit`'s `last`, so that it goes with
    the COMMIT). `change` is a data-modifying statement returning one row (`UPDATE … RETURNING …`);
    `data` builds an event's data from that row (named `change`) in SQL, and `written_if[i]` says
    whether the event of `types[i]` is written at all. Those written are numbered on the subject's
    counter and handed on with the transaction's other events. If `change` returns no row, the
    statement fails, and the transaction with it."""
    batch = _batch.get()
    if batch is None:
        raise RuntimeError("record_with_its_change() needs a batch: call it in recording_with_the_commit's last")
    events = [Event(type=type, subject=subject, data={}) for type in types]
    _prepare(events)
    columns = [field for field in _WRITTEN if field.name != "data"]
    names = ", ".join(connection.ops.quote_name(field.column) for field in columns)
    values = f"({', '.join(f'CAST(%s AS {field.db_type(connection)})' for field in columns)})"
    counters = connection.ops.quote_name(SubjectSequence._meta.db_table)
    written = ", ".join(f"({position}, {condition})" for position, condition in enumerate(written_if))
    sql = (
        f"WITH change AS ({change}),"
        " candidates AS (SELECT position, row_number() OVER (ORDER BY position) AS n"
        f" FROM change, LATERAL (VALUES {written}) AS candidate (position, written) WHERE written),"
        # No row changed: no count, and the NULL fails the statement.
        f" numbers AS (INSERT INTO {counters} (subject, last) SELECT %s, NULLIF(count(*), 0) FROM candidates"
        f" ON CONFLICT (subject) DO UPDATE SET last = {counters}.last + excluded.last RETURNING last)"
        f" INSERT INTO {connection.ops.quote_name(Event._meta.db_table)} ({names}, data, sequence)"
        f" SELECT {', '.join(f'event.{connection.ops.quote_name(field.column)}' for field in columns)}, {data},"
        " numbers.last - (SELECT count(*) FROM candidates) + candidates.n"
        f" FROM candidates JOIN (VALUES {', '.join(f'({position}, {values[1:]}' for position in range(len(events)))})"
        f" AS event (position, {names}) USING (position), change, numbers"
        " RETURNING id, sequence, txid, data"
    )
    params = [*params, subject]
    for event in events:
        params += [field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in columns]
    batch.extend(events)
    batch.written_with_their_change.update(event.id for event in events)

    def read_back(written: list[tuple]) -> None:
        numbered = {id: (sequence, txid, data) for id, sequence, txid, data in written}
        for event in events:
            if event.id in numbered:
                event.sequence, event.txid, data = numbered[event.id]
                event.data = _DATA.from_db_value(data, None, connection)  # as the ORM reads it
                event._state.adding, event._state.db = False, connection.alias
            else:
                batch.remove(event)  # not written: nothing to hand on

    send_with_the_commit(sql, params, read=read_back)


def _record(events: _Batch) -> None:
    """Write the events in the caller's transaction, numbered (but for those their change's
    statement writes), and once it commits dispatch them here or queue them: those that were
    written, read as the commit's hooks run. Each event keeps the trace it was recorded in:
    whatever it causes, on either route or through the relay, continues that trace."""
    _prepare(events)
    transaction.on_commit(lambda: wakeup.notify(owner_ids={event.owner_id for event in events}), robust=True)
    if unwritten := [event for event in events if event.id not in events.written_with_their_change]:
        _write(unwritten)
    if (committed := _here.get()) is not None:
        transaction.on_commit(lambda: _committed_here(committed, [event.id for event in events]))
    else:
        handoff.queue_dispatch_after_commit(events)


def _prepare(events: Iterable[Event]) -> None:
    """What an event takes from where it is recorded: its trace, and with a bus, its time to be published."""
    traceparent = tracing.current_traceparent()
    publish_at = default_relay_at() if bus.enabled() else None
    for event in events:
        event.traceparent = event.traceparent or traceparent
        event.bus_publish_at = event.bus_publish_at or publish_at


def _write(events: list[Event]) -> None:
    """Number the events (`sequence`) and insert them: one statement on PostgreSQL, two elsewhere."""
    if connection.vendor == "postgresql":
        _number_and_insert(events)
    else:
        _number(events)
        Event.objects.bulk_create(events)


def _number(events: list[Event]) -> None:
    """Give each event the next sequence number of its subject, in one statement for the batch
    (then written by the caller; on PostgreSQL `_number_and_insert` does both in one).

    The counter rows stay locked until the caller's transaction ends: a concurrent transaction of
    the same subject waits for it and then counts on from its numbers, and a rollback gives the
    numbers back. Subjects are taken in sorted order, so two transactions recording events of the
    same subjects (an order and its pets) never wait for each other in a circle."""
    counts = Counter(event.subject for event in events)
    with connection.cursor() as cursor:
        cursor.execute(*_bump_counters(counts))
        last = dict(cursor.fetchall())
    for event in events:  # the batch's events of one subject, numbered in the order they were recorded
        event.sequence = last[event.subject] - counts[event.subject] + 1
        counts[event.subject] -= 1


def _bump_counters(counts: Counter) -> tuple[str, list]:
    """The upsert that adds each subject's count to its counter, in sorted order of subjects, and
    returns (subject, last): SQL and parameters, run alone (`_number`) or as a CTE."""
    table = connection.ops.quote_name(SubjectSequence._meta.db_table)
    subjects = sorted(counts)
    sql = (
        f"INSERT INTO {table} (subject, last) VALUES {', '.join(['(%s, %s)'] * len(subjects))}"
        f" ON CONFLICT (subject) DO UPDATE SET last = {table}.last + excluded.last RETURNING subject, last"
    )
    return sql, [value for subject in subjects for value in (subject, counts[subject])]


_DATA = Event._meta.get_field("data")
# Every column of an event but those the statement fills in: its number, and the writing transaction.
_FILLED_IN = [Event._meta.get_field("sequence")]  # txid: the column's default
_WRITTEN = [field for field in Event._meta.concrete_fields if field.name not in ("sequence", "txid")]


def _number_and_insert(events: list[Event]) -> None:
    """`_number` and the INSERT in one statement, on PostgreSQL: the counters are bumped in a
    data-modifying CTE (subjects in sorted order, locked until the transaction ends, as there),
    and each event takes its number from it. A round trip fewer for every transaction that records
    events, and a popular pet's row, locked by its reservation just before, is held for one less."""
    counts = Counter(event.subject for event in events)
    bump, params = _bump_counters(counts)
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in [*_WRITTEN, *_FILLED_IN])
    row = f"({', '.join(['%s'] * len(_WRITTEN))}, (SELECT last FROM numbers WHERE subject = %s) - %s)"
    left = counts.copy()  # a subject's events are numbered in the order they were recorded
    for event in events:
        left[event.subject] -= 1
        values = [field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in _WRITTEN]
        params += [*values, event.subject, left[event.subject]]

    def read_back(numbered: list[tuple]) -> None:
        for event, (sequence, txid) in zip(events, numbered, strict=True):
            event.sequence, event.txid = sequence, txid
            event._state.adding, event._state.db = False, connection.alias

    send_with_the_commit(  # at once, or with the COMMIT (`recording_with_the_commit`)
        f"WITH numbers AS ({bump})"
        f" INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(events))} RETURNING sequence, txid",
        params,
        read=read_back,
    )
