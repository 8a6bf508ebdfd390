"""Fan-out: who is subscribed to an event, and a delivery row for each, created in one insert."""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.workers import in_task
from events.models import Event
from webhooks import sending
from webhooks.events import WebhookEvent
from webhooks.models import Delivery, Endpoint
from webhooks.queueing import queue_after_commit, queue_lease


def subscribed_endpoints(event: Event) -> list[Endpoint]:
    """Active endpoints of the event's owner, and staff endpoints that take every customer's."""
    audience = Q(all_customers=True, owner__is_staff=True)
    if event.owner_id:
        audience |= Q(owner_id=event.owner_id)
    return [
        endpoint for endpoint in Endpoint.objects.filter(audience, is_active=True) if endpoint.subscribes_to(event.type)
    ]


def fan_out(*, event: Event) -> int:
    """Create a delivery of `event` for every subscribed endpoint and send them (idempotent).

    In a worker the deliveries are created already claimed by it and handed straight to its
    sender: no claim and no trip through the broker. Elsewhere they are queued. If the event was
    fanned out before (the relay dispatched it again), only missing deliveries are created, and
    they wait for the due sweep.
    """
    if event.type == WebhookEvent.TEST:
        return 0  # addressed to one endpoint by `send_test_event`
    endpoints = subscribed_endpoints(event)
    if not endpoints:
        return 0
    sending_here = in_task()
    now = timezone.now()
    new = [
        Delivery(
            endpoint=endpoint,
            event=event,
            next_attempt_at=now,
            queued_until=queue_lease(),
            sending_until=sending.claim_lease() if sending_here else None,
        )
        for endpoint in endpoints
    ]
    try:
        with transaction.atomic():
            Delivery.objects.bulk_create(new)
    except IntegrityError:
        for delivery in new:
            delivery.sending_until = delivery.queued_until = None
        Delivery.objects.bulk_create(new, ignore_conflicts=True)
        return 0
    if sending_here:
        transaction.on_commit(lambda: sending.submit(sending.signed_requests(new)), robust=True)
    else:
        queue_after_commit([delivery.id for delivery in new])
    return len(new)
