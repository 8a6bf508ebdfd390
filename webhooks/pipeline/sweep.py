"""The due sweep: pending deliveries whose attempt is due, handed to the queue.

A delivery handed to the queue is leased (`queued_until`, WEBHOOK_REQUEUE_AFTER): the sweep does
not hand it again before then, and hands again one that the broker or its worker lost after
then. Retries are times in the database (`next_attempt_at`), never hours-long ETAs in the broker,
so they survive worker and broker restarts.
"""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from webhooks.models import Delivery, DeliveryStatus
from webhooks.pipeline import lifecycle


def queue_due_deliveries(*, limit: int = 5000) -> int:
    """Queue the pending deliveries whose next attempt is due and that no queue holds, leaving out
    those waiting in their subject's line behind an earlier pending one (per-subject ordering).

    Rows another transaction holds (a sweep running at the same time, a claim, a recording) are
    skipped, not waited for: two sweeps never queue the same delivery nor deadlock each other."""
    now = timezone.now()
    earlier_in_line = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        subject=OuterRef("subject"),
        sequence__lt=OuterRef("sequence"),
        status=DeliveryStatus.PENDING,
    )
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(Q(queued_until__isnull=True) | Q(queued_until__lte=now))
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(sequence__isnull=True) | ~Exists(earlier_in_line))
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        lifecycle.queue(due)
    return len(due)
