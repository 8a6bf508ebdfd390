"""Handing deliveries to the queue, and the due sweep.

A delivery handed to the queue is leased (`queued_until`, WEBHOOK_REQUEUE_AFTER): the sweep does
not hand it again before then, and hands again one that the broker or its worker lost after
then. Retries are times in the database (`next_attempt_at`), never hours-long ETAs in the broker,
so they survive worker and broker restarts.
"""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webhooks.models import Delivery, DeliveryStatus
from webhooks.signals import deliveries_ready


def queue_lease():
    """Until then a queued delivery is not queued again."""
    return timezone.now() + settings.WEBHOOK_REQUEUE_AFTER


def queue_after_commit(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Hand these deliveries (already leased) to the queue once the transaction commits."""
    ids = [str(delivery_id) for delivery_id in delivery_ids]
    if ids:
        transaction.on_commit(lambda: deliveries_ready.send(sender=Delivery, delivery_ids=ids), robust=True)


def queue_due_deliveries(*, limit: int = 5000) -> int:
    """Queue the pending deliveries whose next attempt is due and that no queue holds.

    Rows another transaction holds (a sweep running at the same time, a claim, a recording) are
    skipped, not waited for: two sweeps never queue the same delivery nor deadlock each other."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(Q(queued_until__isnull=True) | Q(queued_until__lte=now))
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        Delivery.objects.filter(id__in=due).update(queued_until=queue_lease())
        queue_after_commit(due)
    return len(due)
