"""Sending: claim deliveries, sign their requests, and hand them to this process's sender.

A claim leases each delivery to the caller (`sending_until`): nobody else sends it until the
lease ends, which is long enough to wait in an endpoint's line and then time out. The sender
(`webhooks.sender`) runs the requests on its threads and hands each result to
`webhooks.recording`.
"""

import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events.models import Event
from webhooks import recording, signing
from webhooks.models import Delivery, DeliveryStatus
from webhooks.sender import Request, Sender

STUCK_AFTER = 1.0  # seconds: an endpoint whose oldest request has hung longer gets no line


def claim_lease():
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT * 3 + 30)


def send_deliveries(*, delivery_ids: Sequence[uuid.UUID]) -> int:
    """Claim these deliveries and hand them to this process's sender; returns how many."""
    return submit(signed_requests(claim(delivery_ids)))


def submit(requests: list[Request]) -> int:
    refused = _sender().submit(requests)
    recording.defer([request.delivery.id for request in refused])
    return len(requests) - len(refused)


def claim(delivery_ids: Sequence[uuid.UUID]) -> list[Delivery]:
    """Lease the pending, unclaimed deliveries among these to the caller; a delivery to a disabled
    endpoint fails instead. Concurrent claims of one delivery: one wins."""
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(
                Q(sending_until__isnull=True) | Q(sending_until__lt=now),
                id__in=delivery_ids,
                status=DeliveryStatus.PENDING,
            )
        )
        events = Event.objects.in_bulk({delivery.event_id for delivery in claimed})  # each event read once
        for delivery in claimed:
            delivery.event = events[delivery.event_id]
        sendable = [delivery for delivery in claimed if delivery.endpoint.is_active]
        Delivery.objects.filter(id__in=[delivery.id for delivery in sendable]).update(sending_until=claim_lease())
        Delivery.objects.filter(id__in=[delivery.id for delivery in claimed if not delivery.endpoint.is_active]).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, queued_until=None, sending_until=None, updated_at=now
        )
    return sendable


def signed_requests(deliveries: Sequence[Delivery]) -> list[Request]:
    bodies = {}  # an event goes to many endpoints: encode it once
    for delivery in deliveries:
        if delivery.event_id not in bodies:
            bodies[delivery.event_id] = json.dumps(delivery.event.envelope(), separators=(",", ":")).encode()
    return [_signed_request(delivery, bodies[delivery.event_id]) for delivery in deliveries]


def _signed_request(delivery: Delivery, body: bytes) -> Request:
    timestamp = int(time.time())
    msg_id = str(delivery.event_id)
    signature = signing.signature_header(
        secrets=delivery.endpoint.signing_secrets(), msg_id=msg_id, timestamp=timestamp, body=body
    )
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    if delivery.event.traceparent:  # the trace of the request that caused the event (sent as the attempt's own)
        headers["traceparent"] = delivery.event.traceparent
    return Request(
        endpoint_id=delivery.endpoint_id,
        owner_id=delivery.endpoint.owner_id,
        url=delivery.endpoint.url,
        body=body,
        headers=headers,
        delivery=delivery,
    )


_sender_lock = threading.Lock()
_senders: dict[int, Sender] = {}


def _sender() -> Sender:
    """This worker process's sender, started on first use (after the pool has forked)."""
    with _sender_lock:
        if os.getpid() not in _senders:
            _senders[os.getpid()] = Sender(
                record=recording.record_attempts,
                concurrency=settings.WEBHOOK_CONCURRENCY,
                per_endpoint=settings.WEBHOOK_ENDPOINT_CONCURRENCY,
                per_owner=max(1, int(settings.WEBHOOK_CONCURRENCY * settings.WEBHOOK_OWNER_SHARE)),
                stuck_after=STUCK_AFTER,
                max_wait=settings.WEBHOOK_TIMEOUT,
            )
        return _senders[os.getpid()]


def close_sender() -> None:
    """Finish this process's requests in flight and record them (on worker shutdown)."""
    with _sender_lock:
        sender = _senders.pop(os.getpid(), None)
    if sender:
        sender.close()
