"""Dispatch: events handed to their consumers (the `events_published` receivers) and marked
dispatched, the one dispatch of both routes (`events.outbox.recording`); once dispatched, counted
and published to the event bus."""

import logging
import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import log_context
from events.bus import rabbitmq as bus
from events.metrics import EVENTS_DISPATCHED
from events.models import Event
from events.signals import events_published

logger = logging.getLogger(__name__)


def dispatch_by_id(*, event_id: uuid.UUID | str, together: Sequence[uuid.UUID | str] = ()) -> None:
    """Dispatch a queued event, and those recorded `together` with it, as the database holds them
    (one query): a message names the events, and their consumers (webhooks signed and sent) never
    take more from the message than that. Ids the database does not hold are logged and dispatch
    nothing."""
    ids = [event_id, *together]
    try:
        events = list(Event.objects.filter(id__in=ids).order_by("id"))
    except ValidationError:  # not even ids
        events = []
    if len(events) < len(ids):  # their transaction rolled back, or the message is not ours
        found = {str(event.id) for event in events}
        missing = ", ".join(str(one)[:64] for one in ids if str(one) not in found)
        logger.warning("dispatch of event %s skipped: no such event", missing)
    if events:
        dispatch(events)


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
        EVENTS_DISPATCHED.labels(event.type).inc()
        logger.info("%s dispatched", event.type)
    if bus.enabled():
        publish_to_bus(events)


def publish_to_bus(events: Sequence[Event]) -> None:
    """Publish committed events to the event bus, and forget those it confirmed; the others stay
    awaiting it, for the relay."""
    if confirmed := bus.publish_batch(events):
        Event.objects.filter(id__in=confirmed).update(bus_publish_at=None)
