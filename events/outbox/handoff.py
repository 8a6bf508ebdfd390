"""The hand-off to the queue, the outbox's lowest room: an event is queued for dispatch by its id,
to the task named `events.dispatch_event` (`events.tasks`), sent by name so that the services
below the tasks can hand work on without importing them."""

import logging
import uuid
from collections.abc import Sequence

from celery import current_app
from django.db import transaction

from core import tracing
from events.models import Event

logger = logging.getLogger(__name__)

DISPATCH_TASK = "events.dispatch_event"  # events.tasks.dispatch_event


def queue_dispatch_after_commit(events: Sequence[Event]) -> None:
    """Queue the events' dispatch once the caller's transaction commits (at once outside one): one
    message for the events of one transaction (an order and its pets' stock), which one worker
    reads back, fans out and marks dispatched together. `events` is read when it commits: the
    caller may drop from it those that turned out not to be written (`record_with_its_change`)."""

    def queue() -> None:
        if events:
            first, *others = events
            queue_dispatch(first.id, traceparent=first.traceparent, together=[event.id for event in others])

    transaction.on_commit(queue, robust=True)


def queue_dispatch(event_id: uuid.UUID, *, traceparent: str = "", together: Sequence[uuid.UUID] = ()) -> None:
    """Queue the event's dispatch by its id (with the events recorded `together` with it), in its
    trace (the message carries it), not in the caller's: the relay's tick is not what caused it.
    If the broker cannot be reached, the events stay undispatched in the outbox, and the relay
    queues them again later."""
    extra = {"together": [str(other) for other in together]} if together else {}
    try:
        with tracing.continued(traceparent):
            current_app.send_task(DISPATCH_TASK, (str(event_id),), **({"kwargs": extra} if extra else {}))
    except Exception:  # noqa: BLE001 - broker errors vary by transport
        logger.warning("broker unreachable: event %s stays in the outbox for the relay", event_id)
