"""Fan-out: who is subscribed to an event, and a delivery row for each, created in one insert."""

import uuid
from collections.abc import Sequence

from django.db import transaction

from events.models import Event
from webhooks.events import WebhookEvent
from webhooks.models import Delivery, Endpoint
from webhooks.pipeline import lifecycle, operational, ordering, sending, subscribers


def subscribed_endpoints(events: Sequence[Event]) -> dict[uuid.UUID, list[Endpoint]]:
    """For each event, the active endpoints of its owner and the staff endpoints that take every
    customer's events, but for an operational event not the endpoint it is about, nor one whose
    filter the event does not pass: at most one query for all of them (`webhooks.pipeline.subscribers`
    keeps them, their filters compiled)."""
    endpoints = subscribers.endpoints_for({event.owner_id for event in events if event.owner_id})
    filtering = any(endpoint.accepts is not None for endpoint in endpoints)
    audiences = {}
    for event in events:
        itself = operational.about(event)  # an operational event never goes to the endpoint it is about
        envelope = event.envelope() if filtering else None
        audiences[event.id] = [
            endpoint
            for endpoint in endpoints
            if (endpoint.takes_every_customer or endpoint.owner_id == event.owner_id)
            and endpoint.subscribes_to(event.type)
            and endpoint.id != itself
            and (endpoint.accepts is None or endpoint.accepts(envelope))
        ]
    return audiences


def fan_out(*, events: Sequence[Event], send_here: bool, first_time: bool = False) -> int:
    """Create a delivery of each event for every subscribed endpoint, in one insert, and send them
    (idempotent).

    With `send_here` (the caller is a worker: the events' dispatch, a fan-out tried again) the
    deliveries are created already claimed by it and handed straight to its sender once the
    transaction commits: no claim and no trip through the broker. Otherwise (a shell, a command)
    they are queued to the send tasks. If an event was fanned out before (a fan-out tried again),
    only missing deliveries are created, and they wait for the due sweep
    (`webhooks.pipeline.lifecycle.create`). `first_time`: the events' own dispatch, which takes
    each event once (`events.outbox.dispatch`), so none of their deliveries can exist yet.
    """
    events = [event for event in events if event.type != WebhookEvent.TEST]  # sent to one endpoint only
    if not events:
        return 0
    audiences = subscribed_endpoints(events)
    new = [
        Delivery(endpoint=endpoint, event=event, **_place_in_line(endpoint, event))
        for event in events
        for endpoint in audiences[event.id]
    ]
    if not new:
        return 0
    # those held in their subject's line stay due; the sweep or their line's hand-off sends them
    going = lifecycle.create(new, held=ordering.held(new), claimed=send_here, first_time=first_time)
    if going is None:  # fanned out before: the missing deliveries wait for the sweep
        return 0
    if send_here:
        transaction.on_commit(lambda: sending.submit(sending.signed_requests(going)), robust=True)
    return len(new)


def _place_in_line(endpoint: Endpoint, event: Event) -> dict:
    """An ordering endpoint's delivery carries its event's place in the subject's line."""
    if endpoint.ordering == Endpoint.Ordering.PER_SUBJECT:
        return {"subject": event.subject, "sequence": event.sequence}
    return {}
