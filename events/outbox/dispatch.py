"""Dispatch: events handed to their consumers (the `events_published` receivers) and marked
dispatched, the one dispatch of both routes (`events.outbox.recording`); once dispatched, counted
and published to the event bus."""

import logging
import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core import log_context
from events.bus import rabbitmq as bus
from events.metrics import EVENTS_DISPATCHED
from events.models import Event
from events.signals import events_published

logger = logging.getLogger(__name__)


def dispatch_by_id(*, event_id: uuid.UUID | str, together: Sequence[uuid.UUID | str] = ()) -> None:
    """Dispatch a queued event, and those recorded `together` with it, as the database holds them:
    a message names the events, and their consumers (webhooks signed and sent) never take more
    from the message than that. Ids the database does not hold, or holds dispatched already, are
    logged and dispatch nothing."""
    ids = [event_id, *together]
    try:
        ids = [Event._meta.pk.to_python(one) for one in ids]
    except ValidationError:  # not even ids
        logger.warning("dispatch of event %s skipped: no such event", str(event_id)[:64])
        return
    dispatched = dispatch(ids)
    if len(dispatched) < len(ids):  # their transaction rolled back, another dispatch took them, or forged
        found = {event.id for event in dispatched}
        missing = ", ".join(str(one) for one in ids if one not in found)
        logger.warning("dispatch of event %s skipped: no such event awaits dispatch", missing)


def dispatch(event_ids: Sequence[uuid.UUID]) -> list[Event]:
    """Take the events not dispatched yet, in one transaction: mark them dispatched and read them
    back (one statement: a concurrent dispatch of the same events waits, then finds none), and
    hand them to their consumers (the `events_published` receivers). A consumer that fails rolls
    the mark back with its work, so the relay hands the events on again. Once committed, the
    events are counted and published to the bus. Returns the events dispatched."""
    with transaction.atomic():
        events = _take_undispatched(event_ids)
        if events:
            log_context.bind(event_id=events[0].id)
            log_context.bind_subject(events[0].subject)
            events_published.send(sender=Event, events=events)
            transaction.on_commit(lambda: _dispatched(events), robust=True)
    return events


def _take_undispatched(event_ids: Sequence[uuid.UUID]) -> list[Event]:
    """UPDATE … RETURNING, which the ORM's update() cannot say (PostgreSQL, and SQLite ≥ 3.35)."""
    if not event_ids:
        return []
    table, pk = connection.ops.quote_name(Event._meta.db_table), Event._meta.pk
    ids = [pk.get_db_prep_value(event_id, connection) for event_id in event_ids]
    taken = Event.objects.raw(
        f"UPDATE {table} SET dispatched_at = %s WHERE dispatched_at IS NULL"
        f" AND id IN ({', '.join(['%s'] * len(ids))}) RETURNING *",
        [Event._meta.get_field("dispatched_at").get_db_prep_value(timezone.now(), connection), *ids],
    )
    return sorted(taken, key=lambda event: event.id)


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
