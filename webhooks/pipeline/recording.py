"""Recording: each attempt logged, and what comes next for its delivery (the retry policy).

The sender's results are written in bulk by its recorder thread. A delivery that succeeded, got
`410 Gone` or spent its schedule is settled; one that failed gets its next attempt's time in the
database, where the due sweep (`webhooks.pipeline.sweep`) finds it; `webhooks.pipeline.lifecycle` writes either.
What the results say about their endpoints goes to `webhooks.pipeline.health`; a delivery that spent its
schedule gives a `delivery.exhausted` (`webhooks.pipeline.operational`), in the same transaction.

Whatever a receiver answered, its outcome is recorded on its own: what is stored is cleaned (no
NUL, valid UTF-8, bounded), `Retry-After` is bounded by the schedule, and a batch the database
refuses is written again result by result, so one odd response never costs another its record.
"""

import dataclasses
import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from core import log_context
from webhooks import metrics
from webhooks.models import Attempt, Delivery, DeliveryStatus
from webhooks.pipeline import health, lifecycle, operational, ordering, transport
from webhooks.pipeline.inflight import Result
from webhooks.pipeline.lifecycle import JITTER

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = (429, 503)
BODY_LIMIT = 1024  # characters of the response body kept
ERROR_LIMIT = Attempt._meta.get_field("error").max_length


def record_attempts(results: Sequence[Result]) -> list[Attempt]:
    """Log each attempt and decide what comes next for its delivery and endpoint, in bulk."""
    lifecycle.defer([result.request.delivery.id for result in results if result.response is None])
    sent = sorted((result for result in results if result.response is not None), key=lambda result: result.attempted_at)
    if not sent:
        return []
    now = timezone.now()
    for result in sent:
        _schedule_next(result.request.delivery, result.response, now)
    return _write(sent, now)


def next_retry_delay(*, scheduled_attempts: int, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is spent.

    The schedule's delay gets ±10 % jitter so that a receiver coming back is not hit by every
    retry at once; a longer `Retry-After` from the receiver wins.
    """
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if scheduled_attempts > len(schedule):
        return None
    delay = schedule[scheduled_attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None and retry_after > 0:  # NaN is not
        delay = max(delay, min(retry_after, max(schedule)))  # never beyond the schedule's longest wait
    return delay


def _write(sent: Sequence[Result], now) -> list[Attempt]:
    """Write the attempts and outcomes in one transaction. If the database refuses it (a delivery
    deleted meanwhile, its endpoint removed while the request was in flight; anything a response
    could still bring), write them one by one, so that each stands or falls alone."""
    try:
        with transaction.atomic():
            attempts = _write_together(sent, now)
    except DatabaseError:
        return [attempt for result in sent for attempt in _write_alone(result, now)]
    for result in sent:
        _observe(result, now)
    return attempts


def _write_alone(result: Result, now) -> list[Attempt]:
    """One result in its own transaction; if even that fails, its outcome without the response."""
    delivery = result.request.delivery
    for attempt_result in (result, _without_response(result)):
        try:
            with transaction.atomic():
                attempts = _write_together([attempt_result], now)
        except IntegrityError:
            logger.warning("attempt not recorded: delivery %s no longer exists", delivery.id)
            return []
        except (OperationalError, InterfaceError):
            raise  # the database is away: the deliveries are sent again when their leases end
        except DatabaseError:
            logger.exception(
                "attempt of delivery %s to endpoint %s (%s) could not be recorded as it was",
                delivery.id,
                delivery.endpoint_id,
                host_of(delivery.endpoint.url),
            )
            continue
        _observe(attempt_result, now)
        return attempts
    return []


def _without_response(result: Result) -> Result:
    response = dataclasses.replace(result.response, body="", error="response could not be recorded")
    return dataclasses.replace(result, response=response)


def _write_together(sent: Sequence[Result], now) -> list[Attempt]:
    attempts = Attempt.objects.bulk_create([_attempt(result) for result in sent])
    deliveries = [result.request.delivery for result in sent]
    lifecycle.save_attempted(deliveries, now)
    lifecycle.queue_now(ordering.next_in_line(d for d in deliveries if d.status != DeliveryStatus.PENDING))
    operational.deliveries_exhausted([result.request.delivery for result in sent if _exhausted(result)])
    health.record_results({result.request.endpoint_id: result for result in sent}.values(), now)
    return attempts


def _exhausted(result: Result) -> bool:
    """Failed for good because its schedule is spent (a 410 fails it too, and disables the endpoint)."""
    return result.request.delivery.status == DeliveryStatus.FAILED and result.response.status != 410


def _attempt(result: Result) -> Attempt:
    """The attempt as stored: the receiver's words cleaned and bounded, whatever they were."""
    response = result.response
    status = response.status if response.status is not None and 0 <= response.status <= 32767 else None
    return Attempt(
        delivery=result.request.delivery,
        attempted_at=result.attempted_at,
        response_status=status,
        duration_ms=max(0, response.duration_ms),
        response_body=clean_text(response.body, BODY_LIMIT),
        error=clean_text(response.error, ERROR_LIMIT),
    )


def clean_text(text: str, limit: int) -> str:
    """`text` as any database stores it: no NUL, valid UTF-8 (lone surrogates replaced), at most
    `limit` characters."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


def host_of(url: str) -> str:
    """The URL's host alone, for logs: its path and query may hold the customer's secrets."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _schedule_next(delivery: Delivery, response: transport.Response, now) -> None:
    """What the attempt leaves its delivery in: settled, or due again (the retry policy)."""
    if response.succeeded or response.status == 410:
        status = DeliveryStatus.SUCCEEDED if response.succeeded else DeliveryStatus.FAILED
        lifecycle.settle(delivery, status=status, now=now)
        return
    retry_after = response.retry_after if response.status in RETRY_AFTER_STATUSES else None
    delay = next_retry_delay(scheduled_attempts=delivery.scheduled_attempts + 1, retry_after=retry_after)
    if delay is None:
        lifecycle.settle(delivery, status=DeliveryStatus.FAILED, now=now)
    else:
        lifecycle.schedule_next(delivery, at=now + timedelta(seconds=delay), now=now)


def _observe(result: Result, now) -> None:
    delivery, response = result.request.delivery, result.response
    metrics.DELIVERY_ATTEMPTS.labels("success" if response.succeeded else "failure").inc()
    if delivery.status != DeliveryStatus.PENDING:
        metrics.DELIVERIES.labels(delivery.status).inc()
        metrics.ATTEMPTS_PER_DELIVERY.observe(delivery.attempt_count)
    if response.succeeded:
        metrics.DELIVERY_LATENCY.observe((now - delivery.event.created_at).total_seconds())
    with log_context.scope(delivery_id=delivery.id, event_id=delivery.event_id):
        log_context.bind_subject(delivery.event.subject)
        logger.info(
            "%s to endpoint %s (%s): %s in %d ms, delivery %s",
            delivery.event.type,
            delivery.endpoint_id,
            host_of(delivery.endpoint.url),
            ", ".join(str(part) for part in (response.status, response.error) if part),
            response.duration_ms,
            delivery.status,
        )
