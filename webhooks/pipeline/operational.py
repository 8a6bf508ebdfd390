"""Operational events: what the product tells a customer about their own endpoints.

`endpoint.disabled` and `endpoint.enabled` are recorded by the one function of each state change
(`webhooks.pipeline.health`), `delivery.exhausted` by the recording of a delivery's last attempt, each in
the transaction of the change (the outbox). Their subject is `endpoint/<id>`, and the fan-out
never sends one to the endpoint it is about.

No chain reaction: a delivery of an operational event that is exhausted gives no
`delivery.exhausted`, so two failing endpoints of one owner cannot feed each other for ever. A
state change gives one event at most, and only a real change does (a PATCH that leaves
`is_active` as it was gives none), so a loop of disabling and enabling costs one event per API
request, within the owner's rate limit.
"""

import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

from django.contrib.auth.models import User

from events.models import Event
from events.outbox.recording import record, recording_together
from events.subjects import split, subject
from webhooks.events import OPERATIONAL, WebhookEvent
from webhooks.models import Delivery, Endpoint


def about(event: Event) -> uuid.UUID | None:
    """The endpoint an operational event is about (which must not receive it), else None."""
    if event.type not in OPERATIONAL:
        return None
    kind, id = split(event.subject)
    try:
        return uuid.UUID(id) if kind == "endpoint" else None
    except ValueError:  # not an endpoint's id: about no endpoint of ours
        return None


def endpoint_changed(endpoint: Endpoint, *, type: WebhookEvent, owner: User) -> Event:
    """`endpoint.disabled` or `endpoint.enabled`, with the endpoint as it now is (its URL redacted:
    staff endpoints and the stream see these events too)."""
    return record(
        type=type,
        subject=subject("endpoint", endpoint.id),
        owner=owner,
        data={
            "endpoint": {
                "id": str(endpoint.id),
                "url": redacted(endpoint.url),
                "disabled_reason": endpoint.disabled_reason,
            }
        },
    )


def redacted(url: str) -> str:
    """`scheme://host[:port]/…`: a webhook URL's path and query often hold the customer's secret."""
    try:
        split = urlsplit(url)
    except ValueError:
        return "…"
    rest = "/…" if split.path.strip("/") or split.query else "/"
    return f"{split.scheme}://{split.netloc.rsplit('@', 1)[-1]}{rest}"


def gives_exhausted_event(delivery: Delivery) -> bool:
    """Whether a delivery that just spent its schedule is told of (not one of an operational event)."""
    return delivery.event.type not in OPERATIONAL


def deliveries_exhausted(deliveries: Sequence[Delivery]) -> list[Event]:
    """A `delivery.exhausted` for each of these deliveries, which used their last attempt: their
    owners read in one query, the events written in one INSERT."""
    deliveries = [delivery for delivery in deliveries if gives_exhausted_event(delivery)]
    if not deliveries:
        return []
    owners = User.objects.in_bulk({delivery.endpoint.owner_id for delivery in deliveries})
    with recording_together():
        return [
            record(
                type=WebhookEvent.DELIVERY_EXHAUSTED,
                subject=subject("endpoint", delivery.endpoint_id),
                owner=owners.get(delivery.endpoint.owner_id),
                data={
                    "delivery": {
                        "id": str(delivery.id),
                        "endpoint_id": str(delivery.endpoint_id),
                        "event_id": str(delivery.event_id),
                        "event_type": delivery.event.type,
                        "attempts": delivery.attempt_count,
                    }
                },
            )
            for delivery in deliveries
        ]
