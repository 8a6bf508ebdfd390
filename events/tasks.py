"""Thin tasks: load by id, call the service. Events enter the queue through `events.outbox.handoff`."""

import logging
from collections.abc import Sequence

from celery import shared_task

from events.bus import rabbitmq as bus
from events.outbox import dispatch, handoff, relay, retention

logger = logging.getLogger(__name__)


@shared_task(name="events.dispatch_event")  # queued by name: events.outbox.handoff
def dispatch_event(event_id: str, *ignored, together: Sequence[str] = ()) -> None:
    # By id alone: anyone who can write to the broker could put any event in a message, and what
    # is signed and sent must be what the database holds. (Messages queued by earlier versions
    # carry the event as a second argument; it is not read.) `together`: the ids of the events
    # its transaction recorded with it, dispatched with it.
    dispatch.dispatch_by_id(event_id=event_id, together=together)


@shared_task(name="events.relay_undispatched_events")
def relay_undispatched_events() -> int:
    claimed = relay.claim_events_to_relay()
    for event_id, traceparent in claimed:
        handoff.queue_dispatch(event_id, traceparent=traceparent)  # by id: the worker reads it back
    if claimed:
        logger.info("outbox relay: %d events handed on again", len(claimed))
    return len(claimed)


@shared_task(name="events.relay_unpublished_events")
def relay_unpublished_events() -> int:
    if not bus.enabled():
        return 0
    confirmed = relay.relay_to_bus()
    if confirmed:
        logger.info("bus relay: %d events published again", confirmed)
    return confirmed


@shared_task(name="events.prune_events")
def prune_events() -> int:
    return retention.prune_events()
