"""A delivery's life, and the only code that writes its state (`status`, `next_attempt_at`, the
two leases, the attempt counters).

    create ─→ queued ─→ claimed ─→ attempted ─┬─→ settle (succeeded, or failed for good)
      │         ↑          │                  └─→ schedule_next (due again later) ─→ queue
      │         │          ├─→ defer / defer_each (not sent: due again, no attempt counted)
      │         │          ├─→ leave_in_line (held behind an earlier one of its subject)
      │         │          └─→ fail_disabled (its endpoint is disabled)
      │         └── queue (the due sweep) · queue_now (its line moved on) · restart (sent again)
      └─→ claimed at once (fanned out in a worker, handed straight to its sender)

Two leases keep a delivery from being sent twice or lost: `queued_until` (handed to the queue:
not handed again before then, and handed again after, if the broker lost it) and
`sending_until` (claimed by a sender: nobody else sends it until then). Each transition here is
one statement for all the deliveries it is given; those that hand deliveries to the queue do so
once the caller's transaction commits (`webhooks.pipeline.handoff`). What to do with which delivery is
decided by the callers: the fan-out, the sweep, the claim, the recording, the resends.
"""

import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from webhooks.models import Delivery, DeliveryStatus
from webhooks.pipeline.handoff import queue_after_commit

JITTER = 0.1


def queue_lease() -> datetime:
    """Until then a queued delivery is not queued again (WEBHOOK_REQUEUE_AFTER)."""
    return timezone.now() + settings.WEBHOOK_REQUEUE_AFTER


def claim_lease() -> datetime:
    """Until then a claimed delivery is sent by its claimant alone: long enough to wait in its
    endpoint's line and then time out."""
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT * 3 + 30)


def create(
    deliveries: Sequence[Delivery], *, held: Iterable[uuid.UUID] = (), claimed: bool = False, first_time: bool = False
):
    """Insert new deliveries, due now, in one INSERT. Each is queued (handed to the queue once the
    transaction commits) or, if `claimed`, leased to the caller, who hands it to its sender;
    those `held` in their subject's line are neither, and wait for the sweep or their line.

    Returns the deliveries queued or claimed; None if some existed already (their event was fanned
    out before): then only the missing ones are inserted, none leased, and the sweep sends them.
    With `first_time` the caller knows none can exist (their events' own dispatch), and the INSERT
    goes without the savepoint that would catch them: two round trips fewer."""
    held = set(held)
    now = timezone.now()
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now
        if delivery.id not in held:
            delivery.queued_until = queue_lease()
            delivery.sending_until = claim_lease() if claimed else None
    if first_time:
        Delivery.objects.bulk_create(deliveries)
        return _hand_on(deliveries, held=held, claimed=claimed)
    try:
        with transaction.atomic():
            Delivery.objects.bulk_create(deliveries)
    except IntegrityError:
        for delivery in deliveries:
            delivery.sending_until = delivery.queued_until = None
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        return None
    return _hand_on(deliveries, held=held, claimed=claimed)


def _hand_on(deliveries: Sequence[Delivery], *, held: set[uuid.UUID], claimed: bool) -> list[Delivery]:
    going = [delivery for delivery in deliveries if delivery.id not in held]
    if not claimed:
        queue_after_commit(delivery.id for delivery in going)
    return going


def queue(delivery_ids: Sequence[uuid.UUID]) -> None:
    """Due deliveries (found by the sweep, their rows locked) are leased to the queue and handed
    to it on commit."""
    if delivery_ids:
        Delivery.objects.filter(id__in=delivery_ids).update(queued_until=queue_lease())
        queue_after_commit(delivery_ids)


def queue_now(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Deliveries whose line moved on are due now (they inherit nothing of the earlier one's
    backoff), leased to the queue and handed to it on commit."""
    if delivery_ids := list(delivery_ids):
        Delivery.objects.filter(id__in=delivery_ids).update(next_attempt_at=timezone.now(), queued_until=queue_lease())
        queue_after_commit(delivery_ids)


def claim(deliveries: Sequence[Delivery]) -> None:
    """Lease these pending deliveries (their rows locked by the caller) to the caller's sender."""
    if deliveries:
        Delivery.objects.filter(id__in=[delivery.id for delivery in deliveries]).update(sending_until=claim_lease())


def leave_in_line(delivery_ids: Sequence[uuid.UUID]) -> None:
    """Claimed while held in their subject's line: no longer queued, left due, for the sweep or
    their line's hand-off."""
    if delivery_ids:
        Delivery.objects.filter(id__in=delivery_ids).update(queued_until=None)


def fail_disabled(deliveries: Sequence[Delivery]) -> None:
    """Claimed for a disabled endpoint: failed, never sent (a resend after enabling sends it)."""
    if deliveries:
        Delivery.objects.filter(id__in=[delivery.id for delivery in deliveries]).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            queued_until=None,
            sending_until=None,
            updated_at=timezone.now(),
        )


def defer(delivery_ids: Sequence[uuid.UUID], *, seconds: float | None = None) -> None:
    """Claimed but not sent (no attempt counted): the claim is given up and the deliveries are due
    again after `seconds`, by default WEBHOOK_TIMEOUT (with jitter)."""
    if delivery_ids:
        wait = settings.WEBHOOK_TIMEOUT * random.uniform(1, 1 + JITTER) if seconds is None else seconds
        later = timezone.now() + timedelta(seconds=wait)
        Delivery.objects.filter(id__in=delivery_ids).update(
            sending_until=None, queued_until=None, next_attempt_at=later
        )


def defer_each(waits: Mapping[uuid.UUID, float]) -> None:
    """`defer`, each delivery due again after its own number of seconds: one UPDATE."""
    if waits:
        now = timezone.now()
        due = Case(
            *(When(id=delivery_id, then=Value(now + timedelta(seconds=wait))) for delivery_id, wait in waits.items()),
            output_field=DateTimeField(),
        )
        Delivery.objects.filter(id__in=list(waits)).update(sending_until=None, queued_until=None, next_attempt_at=due)


def settle(delivery: Delivery, *, status: DeliveryStatus, now: datetime) -> None:
    """An attempt finished the delivery (succeeded, or failed for good). Applied to the delivery
    as the claim read it; `save_attempted` writes it."""
    _attempted(delivery, now)
    delivery.status, delivery.next_attempt_at = status, None


def schedule_next(delivery: Delivery, *, at: datetime, now: datetime) -> None:
    """An attempt failed and the delivery is due again `at`. Applied to the delivery as the claim
    read it; `save_attempted` writes it."""
    _attempted(delivery, now)
    delivery.next_attempt_at = at


def _attempted(delivery: Delivery, now: datetime) -> None:
    delivery.attempt_count += 1
    delivery.scheduled_attempts += 1
    delivery.sending_until = delivery.queued_until = None
    delivery.updated_at = now


def save_attempted(deliveries: Sequence[Delivery], now: datetime) -> None:
    """Write what `settle` and `schedule_next` applied (the counters counted in the database): one
    UPDATE for all that finished the same way, one per delivery still retrying (each has its own
    jittered time), far cheaper than Django's bulk_update, a CASE per row and field. Safe to run
    again if the caller's transaction rolled back."""
    counted = {"attempt_count": F("attempt_count") + 1, "scheduled_attempts": F("scheduled_attempts") + 1}
    released = {"queued_until": None, "sending_until": None, "updated_at": now}
    finished = {}
    for delivery in deliveries:
        if delivery.status == DeliveryStatus.PENDING:
            Delivery.objects.filter(id=delivery.id).update(
                next_attempt_at=delivery.next_attempt_at, **counted, **released
            )
        else:
            finished.setdefault(delivery.status, []).append(delivery.id)
    for status, ids in finished.items():
        Delivery.objects.filter(id__in=ids).update(status=status, next_attempt_at=None, **counted, **released)


def restart(delivery_ids: Sequence[uuid.UUID]) -> None:
    """Finished deliveries (their rows read by the caller) are sent again with a fresh retry
    schedule: pending, due now, queued and handed to the queue on commit."""
    if delivery_ids:
        now = timezone.now()
        Delivery.objects.filter(id__in=delivery_ids).update(
            status=DeliveryStatus.PENDING,
            scheduled_attempts=0,
            sending_until=None,
            next_attempt_at=now,
            queued_until=queue_lease(),
            updated_at=now,
        )
        queue_after_commit(delivery_ids)
