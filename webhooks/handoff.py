"""The hand-off to the queue, the lowest room: a delivery handed on is leased (`queued_until`,
WEBHOOK_REQUEUE_AFTER) and signalled once the transaction commits (`deliveries_ready`, which
`webhooks.receivers` turns into send tasks). `webhooks.queueing` sweeps with it; recording hands
on a subject's next delivery with it (`webhooks.ordering`)."""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webhooks.models import Delivery
from webhooks.signals import deliveries_ready


def queue_lease():
    """Until then a queued delivery is not queued again."""
    return timezone.now() + settings.WEBHOOK_REQUEUE_AFTER


def queue_after_commit(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Hand these deliveries (already leased) to the queue once the transaction commits."""
    ids = [str(delivery_id) for delivery_id in delivery_ids]
    if ids:
        transaction.on_commit(lambda: deliveries_ready.send(sender=Delivery, delivery_ids=ids), robust=True)
