"""Fan-out and sending of webhook deliveries.

A delivery is a row before it is a request. Fan-out creates an event's rows in one insert, leased
to the worker that dispatches the event, which hands the signed requests to its process's
sender. Retries, replays and the due sweep queue batches instead, each claimed by a worker (a
lease on each row) and handed over the same way. The sender's results are written back in bulk:
each attempt logged, the next one scheduled in the database. A frequent beat task queues what is
due, so retries survive worker and broker restarts and never sit in the broker as hours-long
ETAs.
"""

import json
import logging
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from events.models import Event, EventType
from petstore import log_context, metrics
from petstore.celery import in_task
from webhooks import signing, transport
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint
from webhooks.sender import Request, Result, Sender

logger = logging.getLogger(__name__)

JITTER = 0.1
STUCK_AFTER = 1.0  # seconds: an endpoint whose oldest request has hung longer gets no line


# --- Queueing -----------------------------------------------------------------------------


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

    In a worker the deliveries are created already leased to it and handed straight to its
    sender: no claim and no trip through the broker. If the event was fanned out before (the
    relay dispatched it again), only missing deliveries are created, and they wait for the sweep.
    """
    if event.type == EventType.WEBHOOK_TEST:
        return 0  # addressed to one endpoint by `send_test_event`
    endpoints = subscribed_endpoints(event)
    if not endpoints:
        return 0
    sending_here = in_task()
    new = [
        Delivery(
            endpoint=endpoint,
            event=event,
            next_attempt_at=requeue_deadline(),
            sending_until=lease_deadline() if sending_here else None,
        )
        for endpoint in endpoints
    ]
    try:
        with transaction.atomic():
            Delivery.objects.bulk_create(new)
    except IntegrityError:
        for delivery in new:
            delivery.sending_until = None
        Delivery.objects.bulk_create(new, ignore_conflicts=True)
        return 0
    if sending_here:
        transaction.on_commit(lambda: _submit(_signed_requests(new)), robust=True)
    else:
        enqueue_after_commit([delivery.id for delivery in new])
    return len(new)


def enqueue_due_deliveries(*, limit: int = 5000) -> int:
    """Queue the pending deliveries whose next attempt is due (retries, and any lost first try).

    Rows another transaction holds (a sweep running at the same time, a claim, a recording) are
    skipped, not waited for: two sweeps never queue the same delivery nor deadlock each other."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        Delivery.objects.filter(id__in=due).update(next_attempt_at=requeue_deadline())
        enqueue_after_commit(due)
    return len(due)


def lease_deadline():
    """Until then a delivery handed to a sender is not sent by anyone else: long enough to wait
    in an endpoint's line and then time out."""
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT * 3 + 30)


def requeue_deadline():
    """Until then a queued delivery is not queued again (WEBHOOK_REQUEUE_AFTER)."""
    return timezone.now() + settings.WEBHOOK_REQUEUE_AFTER


def enqueue_after_commit(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Queue the deliveries in batches of WEBHOOK_BATCH_SIZE once the transaction commits."""
    from webhooks.tasks import send_deliveries

    ids, size = [str(delivery_id) for delivery_id in delivery_ids], settings.WEBHOOK_BATCH_SIZE
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]

    def enqueue():
        for batch in batches:
            send_deliveries.delay(batch)

    if batches:
        transaction.on_commit(enqueue, robust=True)


# --- Sending ------------------------------------------------------------------------------


def send_deliveries(*, delivery_ids: Sequence[uuid.UUID]) -> int:
    """Claim these deliveries and hand them to this process's sender; returns how many."""
    return _submit(_signed_requests(claim(delivery_ids)))


def _submit(requests: list[Request]) -> int:
    refused = _sender().submit(requests)
    defer([request.delivery.id for request in refused])
    return len(requests) - len(refused)


def attempt_deliveries(*, delivery_ids: Sequence[uuid.UUID]) -> list[Attempt]:
    """Claim, send and record these deliveries one after the other, in this thread."""
    results = []
    for request in _signed_requests(claim(delivery_ids)):
        attempted_at = timezone.now()
        results.append(
            Result(request, transport.post(url=request.url, body=request.body, headers=request.headers), attempted_at)
        )
    return record_attempts(results)


def claim(delivery_ids: Sequence[uuid.UUID]) -> list[Delivery]:
    """Lease the pending, unleased deliveries among these to the caller; a delivery to a disabled
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
        Delivery.objects.filter(id__in=[delivery.id for delivery in sendable]).update(sending_until=lease_deadline())
        Delivery.objects.filter(id__in=[delivery.id for delivery in claimed if not delivery.endpoint.is_active]).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, sending_until=None, updated_at=now
        )
    return sendable


def defer(delivery_ids: Sequence[uuid.UUID]) -> None:
    """Give up the lease on deliveries not sent; they are queued again after WEBHOOK_TIMEOUT."""
    if delivery_ids:
        later = timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT * random.uniform(1, 1 + JITTER))
        Delivery.objects.filter(id__in=delivery_ids).update(sending_until=None, next_attempt_at=later)


def _signed_requests(deliveries: Sequence[Delivery]) -> list[Request]:
    bodies = {}  # an event goes to many endpoints: encode it once
    for delivery in deliveries:
        if delivery.event_id not in bodies:
            bodies[delivery.event_id] = json.dumps(delivery.event.envelope(), separators=(",", ":")).encode()
    return [_signed_request(delivery, bodies[delivery.event_id]) for delivery in deliveries]


def _signed_request(delivery: Delivery, body: bytes) -> Request:
    timestamp = int(time.time())
    msg_id = str(delivery.event_id)
    signature = signing.signature_header(
        secrets=live_secrets(delivery.endpoint), msg_id=msg_id, timestamp=timestamp, body=body
    )
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return Request(
        endpoint_id=delivery.endpoint_id, url=delivery.endpoint.url, body=body, headers=headers, delivery=delivery
    )


def live_secrets(endpoint: Endpoint) -> list[str]:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


_sender_lock = threading.Lock()
_senders: dict[int, Sender] = {}


def _sender() -> Sender:
    """This worker process's sender, started on first use (after the pool has forked)."""
    with _sender_lock:
        if os.getpid() not in _senders:
            _senders[os.getpid()] = Sender(
                record=record_attempts,
                concurrency=settings.WEBHOOK_CONCURRENCY,
                per_endpoint=settings.WEBHOOK_ENDPOINT_CONCURRENCY,
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


# --- Recording ----------------------------------------------------------------------------


def record_attempts(results: Sequence[Result]) -> list[Attempt]:
    """Log each attempt and decide what comes next for its delivery and endpoint, in bulk."""
    defer([result.request.delivery.id for result in results if result.response is None])
    sent = sorted((result for result in results if result.response is not None), key=lambda result: result.attempted_at)
    if not sent:
        return []
    now = timezone.now()
    for result in sent:
        _schedule_next(result.request.delivery, result.response, now)
    return _write(sent, now)


def _write(sent: Sequence[Result], now) -> list[Attempt]:
    """Write the attempts and outcomes in one transaction. If a delivery was deleted meanwhile (its
    endpoint removed while the request was in flight), write the others one by one."""
    try:
        with transaction.atomic():
            attempts = Attempt.objects.bulk_create(
                [
                    Attempt(
                        delivery=result.request.delivery,
                        attempted_at=result.attempted_at,
                        response_status=result.response.status,
                        duration_ms=result.response.duration_ms,
                        response_body=result.response.body,
                        error=result.response.error,
                    )
                    for result in sent
                ]
            )
            _save_outcomes([result.request.delivery for result in sent], now)
            _update_endpoints({result.request.endpoint_id: result for result in sent}.values(), now)
    except IntegrityError:
        if len(sent) > 1:
            return [attempt for result in sent for attempt in _write([result], now)]
        logger.warning("attempt not recorded: delivery %s no longer exists", sent[0].request.delivery.id)
        return []
    for result in sent:
        _observe(result, now)
    return attempts


def _schedule_next(delivery: Delivery, response: transport.Response, now) -> None:
    delivery.attempt_count += 1
    delivery.scheduled_attempts += 1
    delivery.sending_until = None
    delivery.updated_at = now
    if response.succeeded or response.status == 410:
        delivery.status = DeliveryStatus.SUCCEEDED if response.succeeded else DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        return
    delay = next_retry_delay(scheduled_attempts=delivery.scheduled_attempts, retry_after=response.retry_after)
    if delay is None:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=delay)


def _save_outcomes(deliveries: Sequence[Delivery], now) -> None:
    """One UPDATE for all that finished the same way, one per delivery still retrying (each has
    its own jittered time): far cheaper than Django's bulk_update, a CASE per row and field."""
    finished = defaultdict(list)
    for delivery in deliveries:
        if delivery.status == DeliveryStatus.PENDING:
            Delivery.objects.filter(id=delivery.id).update(
                attempt_count=F("attempt_count") + 1,
                scheduled_attempts=F("scheduled_attempts") + 1,
                next_attempt_at=delivery.next_attempt_at,
                sending_until=None,
                updated_at=now,
            )
        else:
            finished[delivery.status].append(delivery.id)
    for status, ids in finished.items():
        Delivery.objects.filter(id__in=ids).update(
            status=status,
            attempt_count=F("attempt_count") + 1,
            scheduled_attempts=F("scheduled_attempts") + 1,
            next_attempt_at=None,
            sending_until=None,
            updated_at=now,
        )


def _update_endpoints(latest: Iterable[Result], now) -> None:
    """Each endpoint's latest result in the batch: a success clears its failure streak, a failure
    starts one, a 410 or a streak longer than WEBHOOK_DISABLE_AFTER disables it."""
    recovered, failing = [], {}
    for result in latest:
        endpoint = result.request.delivery.endpoint
        if result.response.succeeded:
            recovered.append(endpoint.id)
        elif result.response.status == 410:
            _disable(endpoint, reason=Endpoint.DisabledReason.GONE)
        else:
            failing[endpoint.id] = result
    Endpoint.objects.filter(id__in=recovered, failing_since__isnull=False).update(failing_since=None)
    for endpoint_id in sorted(failing):  # rows locked in one order: two recorders cannot deadlock
        Endpoint.objects.filter(id=endpoint_id, failing_since__isnull=True).update(
            failing_since=failing[endpoint_id].attempted_at
        )
    for endpoint in Endpoint.objects.filter(
        id__in=failing, is_active=True, failing_since__lt=now - settings.WEBHOOK_DISABLE_AFTER
    ).select_related("owner"):
        _disable(endpoint, reason=Endpoint.DisabledReason.FAILING)


def _observe(result: Result, now) -> None:
    delivery, response = result.request.delivery, result.response
    metrics.DELIVERY_ATTEMPTS.labels("success" if response.succeeded else "failure").inc()
    if delivery.status != DeliveryStatus.PENDING:
        metrics.DELIVERIES.labels(delivery.status).inc()
        metrics.ATTEMPTS_PER_DELIVERY.observe(delivery.attempt_count)
    if response.succeeded:
        metrics.DELIVERY_LATENCY.observe((now - delivery.event.created_at).total_seconds())
    with log_context.scope(delivery_id=delivery.id, event_id=delivery.event_id, order_id=delivery.event.order_id):
        logger.info(
            "%s to %s: %s in %d ms, delivery %s",
            delivery.event.type,
            delivery.endpoint.url,
            response.status or response.error,
            response.duration_ms,
            delivery.status,
        )


def next_retry_delay(*, scheduled_attempts: int, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is spent.

    The schedule's delay gets ±10 % jitter so that a receiver coming back is not hit by every
    retry at once; a longer `Retry-After` from the receiver wins.
    """
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if scheduled_attempts > len(schedule):
        return None
    delay = schedule[scheduled_attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after or 0)


def _disable(endpoint: Endpoint, *, reason: Endpoint.DisabledReason) -> None:
    Endpoint.objects.filter(id=endpoint.id).update(is_active=False, disabled_reason=reason, updated_at=timezone.now())
    logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason.label)
    if reason == Endpoint.DisabledReason.FAILING and endpoint.owner.email:
        transaction.on_commit(lambda: _tell_owner_disabled(endpoint), robust=True)


def _tell_owner_disabled(endpoint: Endpoint) -> None:
    send_mail(
        subject="Your Petstore webhook endpoint was disabled",
        message=(
            f"Every delivery to {endpoint.url} has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC, "
            "so we stopped sending to it. Fix the receiver, enable the endpoint again, then recover "
            "the failed deliveries (POST /v1/webhooks/{id}/recover) to receive what was missed."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[endpoint.owner.email],
    )
