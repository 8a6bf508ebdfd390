"""Sending: claim deliveries, sign their requests, and hand them to this process's sender.

A claim leases each delivery to the caller (`lifecycle.claim`): nobody else sends it until the
lease ends, which is long enough to wait in an endpoint's line and then time out. The sender
(`webhooks.pipeline.inflight`) runs the requests on its threads and hands each result to
`webhooks.pipeline.recording`.
"""

import json
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from events.models import Event
from webhooks.models import Delivery, DeliveryStatus
from webhooks.pipeline import lifecycle, ordering, ratelimit, recording, signing, transport
from webhooks.pipeline.inflight import Request, Result, Sender

logger = logging.getLogger(__name__)

UNREADABLE_SECRET = (
    "not sent: the endpoint's signing secret cannot be decrypted with the server's FIELD_ENCRYPTION_KEYS; "
    "rotate the secret (or put the old key back)"
)
STUCK_AFTER = 1.0  # seconds: an endpoint whose oldest request has hung longer gets no line


def send_deliveries(*, delivery_ids: Sequence[uuid.UUID]) -> int:
    """Claim these deliveries and hand them to this process's sender; returns how many."""
    return submit(signed_requests(claim(delivery_ids)))


def submit(requests: list[Request]) -> int:
    """Hand the requests to this process's sender; those to rate-limited endpoints wait for their
    slot first (`webhooks.pipeline.ratelimit`); those that cannot be sent (unsigned) fail their attempt at
    once. Returns how many were taken."""
    if refused := [request for request in requests if request.refusal]:
        requests = [request for request in requests if not request.refusal]
        recording.record_attempts([_refused(request) for request in refused])
    limited = [request for request in requests if request.delivery.endpoint.rate_limit]
    if limited:
        requests = [request for request in requests if not request.delivery.endpoint.rate_limit]
        _pace(limited)
    return _start(requests) + len(limited)


def _start(requests: list[Request]) -> int:
    refused = _sender().submit(requests)
    lifecycle.defer([request.delivery.id for request in refused])
    return len(requests) - len(refused)


def _start_paced(requests: list[Request]) -> None:
    try:
        _start(requests)
    finally:
        connection.close()  # the pacer's thread lives on: it holds no connection while it waits


def _pace(requests: list[Request]) -> None:
    """Give each request its slot at its endpoint's rate (one Redis round trip per endpoint); start
    it then if that is within the pacer's horizon. A delivery whose slot is further out goes back
    to the database, due again shortly before that slot: a backlog is spread at the endpoint's
    rate, not claimed again on every sweep."""
    by_endpoint = defaultdict(list)
    for request in requests:
        by_endpoint[request.delivery.endpoint].append(request)
    slotted, later = [], {}
    for endpoint, waiting in by_endpoint.items():
        try:
            waits = ratelimit.reserve(
                endpoint_id=endpoint.id, rate=endpoint.rate_limit, delivery_ids=[r.delivery.id for r in waiting]
            )
        except Exception:  # noqa: BLE001 - Redis away: the limit is a promise, so wait rather than send
            logger.warning("rate limit of endpoint %s unknown (cache unreachable): deliveries wait", endpoint.id)
            waits = [ratelimit.HORIZON + ratelimit.LEAD] * len(waiting)
        for wait, request in zip(waits, waiting, strict=True):
            if wait <= ratelimit.HORIZON:
                slotted.append((wait, request))
            else:
                later[request.delivery.id] = wait - ratelimit.LEAD
    if slotted:
        _pacer().at(slotted)
    lifecycle.defer_each(later)


def claim(delivery_ids: Sequence[uuid.UUID]) -> list[Delivery]:
    """Lease the pending, unclaimed deliveries among these to the caller; a delivery to a disabled
    endpoint fails instead, and one waiting in its subject's line (`webhooks.pipeline.ordering`) is left
    due, for the sweep or its line's hand-off. Concurrent claims of one delivery: one wins."""
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
        active = [delivery for delivery in claimed if delivery.endpoint.is_active]
        waiting = ordering.held(active)
        sendable = [delivery for delivery in active if delivery.id not in waiting]
        lifecycle.claim(sendable)
        lifecycle.leave_in_line(list(waiting))
        lifecycle.fail_disabled([delivery for delivery in claimed if not delivery.endpoint.is_active])
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
    secrets = delivery.endpoint.signing_secrets()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body),
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
        refusal="" if secrets else UNREADABLE_SECRET,
    )


def _refused(request: Request) -> Result:
    logger.warning("delivery %s not sent: %s", request.delivery.id, request.refusal)
    response = transport.Response(status=None, body="", error=request.refusal, duration_ms=0, retry_after=None)
    return Result(request, response, timezone.now())


_sender_lock = threading.Lock()
_senders: dict[int, Sender] = {}
_pacers: dict[int, ratelimit.Pacer] = {}


def _pacer() -> ratelimit.Pacer:
    """This worker process's pacer (rate-limited requests waiting for their slot), started on first use."""
    with _sender_lock:
        if os.getpid() not in _pacers:
            _pacers[os.getpid()] = ratelimit.Pacer(start=_start_paced)
        return _pacers[os.getpid()]


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
    """Finish this process's requests in flight and record them (on worker shutdown); those still
    waiting for their rate-limit slot are due again at once."""
    with _sender_lock:
        sender = _senders.pop(os.getpid(), None)
        pacer = _pacers.pop(os.getpid(), None)
    if pacer:
        lifecycle.defer([request.delivery.id for request in pacer.close()], seconds=0)
    if sender:
        sender.close()
