"""Webhook subscriptions and deliveries.

A delivery is a row before it is a request: fan-out creates the rows in bulk, a worker claims a
row, sends it, logs the attempt and schedules the next one in the database. A frequent beat task
sends what is due, so retries survive worker and broker restarts and never sit in the broker as
hours-long ETAs.
"""

import json
import logging
import random
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from events.models import Event, EventType
from events.services import publish
from petstore import log_context, metrics
from webhooks import signing, transport
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint

logger = logging.getLogger(__name__)

JITTER = 0.1


# --- Subscriptions ----------------------------------------------------------------------


@transaction.atomic
def create_endpoint(
    *, owner: User, url: str, event_types: list[str], description: str = "", all_customers: bool = False
) -> Endpoint:
    return Endpoint.objects.create(
        owner=owner,
        url=url,
        event_types=event_types,
        description=description,
        all_customers=all_customers,
        secret=signing.new_secret(),
    )


@transaction.atomic
def update_endpoint(*, endpoint: Endpoint, **changes) -> Endpoint:
    if changes.get("is_active") is True:
        changes.update(disabled_reason="", failing_since=None)
    elif changes.get("is_active") is False:
        changes["disabled_reason"] = Endpoint.DisabledReason.MANUAL
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save()
    return endpoint


def set_endpoint_active(*, endpoint: Endpoint, active: bool) -> Endpoint:
    return update_endpoint(endpoint=endpoint, is_active=active)


@transaction.atomic
def rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    """A new secret signs from now on; the old one signs alongside it for WEBHOOK_SECRET_OVERLAP."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + settings.WEBHOOK_SECRET_OVERLAP
    endpoint.secret = signing.new_secret()
    endpoint.save()
    return endpoint


def live_secrets(endpoint: Endpoint) -> list[str]:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


@transaction.atomic
def send_test_event(*, endpoint: Endpoint) -> Delivery:
    """A `webhook.test` event for this endpoint alone."""
    event = publish(
        type=EventType.WEBHOOK_TEST,
        subject_id=endpoint.id,
        owner=endpoint.owner,
        data={"endpoint_id": str(endpoint.id), "message": "A test event from Petstore Events."},
    )
    delivery = Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=_requeue_deadline())
    _enqueue_after_commit([delivery.id])
    return delivery


# --- Fan-out and sending ----------------------------------------------------------------


def subscribed_endpoints(event: Event) -> list[Endpoint]:
    """Active endpoints of the event's owner, and staff endpoints that take every customer's."""
    audience = Q(all_customers=True, owner__is_staff=True)
    if event.owner_id:
        audience |= Q(owner_id=event.owner_id)
    return [
        endpoint for endpoint in Endpoint.objects.filter(audience, is_active=True) if endpoint.subscribes_to(event.type)
    ]


def fan_out(*, event: Event) -> int:
    """Create a delivery of `event` for every subscribed endpoint and queue them (idempotent)."""
    if event.type == EventType.WEBHOOK_TEST:
        return 0  # addressed to one endpoint by `send_test_event`
    endpoints = subscribed_endpoints(event)
    if not endpoints:
        return 0
    with transaction.atomic():
        Delivery.objects.bulk_create(
            [Delivery(endpoint=endpoint, event=event, next_attempt_at=_requeue_deadline()) for endpoint in endpoints],
            ignore_conflicts=True,
        )
        delivery_ids = list(
            Delivery.objects.filter(event=event, status=DeliveryStatus.PENDING, attempt_count=0).values_list(
                "id", flat=True
            )
        )
        _enqueue_after_commit(delivery_ids)
    return len(delivery_ids)


def enqueue_due_deliveries(*, limit: int = 2000) -> int:
    """Queue the pending deliveries whose next attempt is due (retries, and any lost first try)."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        Delivery.objects.filter(id__in=due).update(next_attempt_at=_requeue_deadline())
        _enqueue_after_commit(due)
    return len(due)


def _requeue_deadline():
    """Until then a queued delivery is not queued again (WEBHOOK_REQUEUE_AFTER)."""
    return timezone.now() + settings.WEBHOOK_REQUEUE_AFTER


def _enqueue_after_commit(delivery_ids: Iterable[uuid.UUID]) -> None:
    from webhooks.tasks import send_delivery

    ids = [str(delivery_id) for delivery_id in delivery_ids]

    def enqueue():
        for delivery_id in ids:
            send_delivery.delay(delivery_id)

    if ids:
        transaction.on_commit(enqueue, robust=True)


def attempt_delivery(*, delivery_id: uuid.UUID) -> Attempt | None:
    """Send a pending delivery once, log the attempt and decide what comes next.

    A lease on the row makes concurrent calls for one delivery send it once.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT * 3 + 30)
    claimed = Delivery.objects.filter(
        Q(sending_until__isnull=True) | Q(sending_until__lt=now),
        id=delivery_id,
        status=DeliveryStatus.PENDING,
    ).update(sending_until=lease)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("endpoint", "event").get(id=delivery_id)
    log_context.bind(delivery_id=delivery.id, event_id=delivery.event_id, order_id=delivery.event.order_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        Delivery.objects.filter(id=delivery.id).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, sending_until=None, updated_at=now
        )
        return None
    body = json.dumps(delivery.event.envelope(), separators=(",", ":")).encode()
    timestamp = int(time.time())
    msg_id = str(delivery.event_id)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            secrets=live_secrets(endpoint), msg_id=msg_id, timestamp=timestamp, body=body
        ),
        "content-type": "application/json",
    }
    attempted_at = timezone.now()
    response = transport.post(url=endpoint.url, body=body, headers=headers)
    return _record_attempt(delivery=delivery, response=response, attempted_at=attempted_at)


@transaction.atomic
def _record_attempt(*, delivery: Delivery, response: transport.Response, attempted_at: datetime) -> Attempt:
    attempt = Attempt.objects.create(
        delivery=delivery,
        attempted_at=attempted_at,
        response_status=response.status,
        duration_ms=response.duration_ms,
        response_body=response.body,
        error=response.error,
    )
    delivery.attempt_count += 1
    delivery.scheduled_attempts += 1
    delivery.sending_until = None
    endpoint = delivery.endpoint
    now = timezone.now()
    if response.succeeded:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
        Endpoint.objects.filter(id=endpoint.id, failing_since__isnull=False).update(failing_since=None)
    elif response.status == 410:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        _disable(endpoint, reason=Endpoint.DisabledReason.GONE)
    else:
        delay = next_retry_delay(scheduled_attempts=delivery.scheduled_attempts, retry_after=response.retry_after)
        if delay is None:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        Endpoint.objects.filter(id=endpoint.id, failing_since__isnull=True).update(failing_since=attempted_at)
        endpoint.refresh_from_db(fields=["failing_since", "is_active"])
        if endpoint.is_active and endpoint.failing_since < now - settings.WEBHOOK_DISABLE_AFTER:
            _disable(endpoint, reason=Endpoint.DisabledReason.FAILING)
    delivery.save(
        update_fields=[
            "status",
            "attempt_count",
            "scheduled_attempts",
            "next_attempt_at",
            "sending_until",
            "updated_at",
        ]
    )
    _observe(delivery, response, now)
    logger.info(
        "%s to %s: %s in %d ms, delivery %s",
        delivery.event.type,
        endpoint.url,
        response.status or response.error,
        response.duration_ms,
        delivery.status,
    )
    return attempt


def _observe(delivery: Delivery, response: transport.Response, now: datetime) -> None:
    metrics.DELIVERY_ATTEMPTS.labels("success" if response.succeeded else "failure").inc()
    if delivery.status != DeliveryStatus.PENDING:
        metrics.DELIVERIES.labels(delivery.status).inc()
        metrics.ATTEMPTS_PER_DELIVERY.observe(delivery.attempt_count)
    if response.succeeded:
        metrics.DELIVERY_LATENCY.observe((now - delivery.event.created_at).total_seconds())


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


# --- Repair: retry, recover, replay ------------------------------------------------------


def restart_deliveries(deliveries: QuerySet[Delivery]) -> int:
    """Send these deliveries again through the normal path, with a fresh retry schedule."""
    with transaction.atomic():
        ids = list(deliveries.exclude(status=DeliveryStatus.PENDING).values_list("id", flat=True))
        Delivery.objects.filter(id__in=ids).update(
            status=DeliveryStatus.PENDING,
            scheduled_attempts=0,
            sending_until=None,
            next_attempt_at=_requeue_deadline(),
            updated_at=timezone.now(),
        )
        _enqueue_after_commit(ids)
    return len(ids)


def recover_failed(*, endpoint: Endpoint, since: datetime) -> int:
    """Resend every failed delivery of `endpoint` created since `since`."""
    return restart_deliveries(endpoint.deliveries.filter(status=DeliveryStatus.FAILED, created_at__gte=since))


def prune_attempts() -> int:
    deleted, _ = Attempt.objects.filter(attempted_at__lt=timezone.now() - settings.WEBHOOK_ATTEMPT_RETENTION).delete()
    return deleted
