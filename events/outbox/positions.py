"""Where an event stands in commit order, for readers that resume "after event X" (the stream,
`GET /v1/events?after=`) and must neither skip nor repeat an event.

Event ids are uuid7, time-ordered at the moment the event is built; but two transactions can commit
out of that order (a worker's transaction writes its event, then runs the consumers before it
commits), so "every event with an id above X" can miss an event with a smaller id that commits
after a reader has moved past it. Instead each event records the id of the transaction that wrote
it (`Event.txid`), and a reader:

- orders events by (txid, id), its *position*;
- reads only below the *horizon*, the oldest transaction still writing to this database: every
  transaction below it has committed or rolled back, so nothing can appear there any more, and a
  position below it is final. Only this database's writers count (`pg_stat_activity`): a
  transaction in another database of the cluster (another application, another test lane) can
  write no event, and PostgreSQL's cluster-wide `pg_snapshot_xmin` would hold every reader back
  for as long as it lasts.

An event waits until every transaction older than its own has finished (a few milliseconds, as long
as the slowest writer) and then comes in its place. SQLite takes the write lock at BEGIN (see the
settings), so its writers commit in the order they build ids: txid is 0, the position is the id,
and there is no horizon.
"""

import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Q, QuerySet

from events.models import Event

LAST_ID = uuid.UUID(int=2**128 - 1)


@dataclass(frozen=True, order=True)
class Position:
    txid: int
    id: uuid.UUID


def position_of(event: Event) -> Position:
    return Position(event.txid, event.id)


# The oldest transaction id held by a backend of this database, or, with none, the snapshot's xmax
# (every id below it has finished). pg_stat_activity gives a backend's id in 32 bits: it is widened
# to 64 as the one nearest below or above the snapshot's xmax (running ids are within 2^31 of it).
# A writer that finishes between the snapshot and the scan has finished: what it committed is
# seen by the reader's next statement. One that gets its id later gets one above xmax.
DATABASE_HORIZON = """
WITH snapshot AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax)
SELECT LEAST(
    xmax,
    (SELECT min(xmax - ((xmax % 4294967296 - backend_xid::text::bigint + 6442450944) % 4294967296 - 2147483648))
     FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL)
) FROM snapshot
"""
# Inside a transaction PostgreSQL keeps its first reading of pg_stat_activity, which a later
# writer would be missing from: there, the cluster-wide horizon, which is never too high.
CLUSTER_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def horizon() -> int | None:
    """Transactions below this id have all finished; None where commit order is id order."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(CLUSTER_HORIZON if connection.in_atomic_block else DATABASE_HORIZON)
        return cursor.fetchone()[0]


def tail() -> Position:
    """The position after every event that is final now: where a reader that wants only new
    events starts."""
    if (below := horizon()) is not None:
        return Position(below - 1, LAST_ID)
    newest = Event.objects.aggregate(newest=Max("id"))["newest"]
    return Position(0, newest or uuid.UUID(int=0))


def after(events: QuerySet[Event], position: Position, *, below: int | None) -> QuerySet[Event]:
    """`events` after `position` and below the horizon `below`, in commit order."""
    later = events.filter(Q(txid__gt=position.txid) | Q(txid=position.txid, id__gt=position.id))
    if below is not None:
        later = later.filter(txid__lt=below)
    return later.order_by("txid", "id")


def read_after(events: QuerySet[Event], position: Position, *, limit: int) -> tuple[list[Event], Position, bool]:
    """Up to `limit` final events of `events` after `position`; the position to read from next;
    and whether later events are held back, waiting for an older transaction to finish.

    Once no final event is left, the next position moves up to the horizon, so that a filtered
    reader does not scan the same unrelated rows again."""
    below = horizon()
    candidates = list(after(events, position, below=None)[:limit])
    found = [event for event in candidates if below is None or event.txid < below]
    held_back = len(found) < len(candidates)
    if found:
        return found, position_of(found[-1]), held_back
    if below is not None and not held_back:
        return found, max(position, Position(below - 1, LAST_ID)), held_back
    return found, position, held_back
