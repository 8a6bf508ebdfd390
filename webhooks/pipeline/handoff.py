"""The hand-off to the send queue, the bottom floor: deliveries already leased to the queue
(`webhooks.pipeline.lifecycle`) go to the `webhooks.send_deliveries` task once the transaction commits, in
batches of WEBHOOK_BATCH_SIZE. The task is sent by its name, so this floor imports no task: the
tasks sit above everything that hands deliveries on."""

import uuid
from collections.abc import Iterable, Sequence

from celery import current_app
from django.conf import settings
from django.db import transaction

SEND_DELIVERIES = "webhooks.send_deliveries"


def queue_after_commit(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Hand these deliveries (already leased) to the queue once the transaction commits."""
    ids = [str(delivery_id) for delivery_id in delivery_ids]
    if ids:
        transaction.on_commit(lambda: send(ids), robust=True)


def send(delivery_ids: Sequence[str]) -> None:
    """Queue the deliveries' send tasks now, in batches of WEBHOOK_BATCH_SIZE."""
    size = settings.WEBHOOK_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        current_app.send_task(SEND_DELIVERIES, args=[list(delivery_ids[start : start + size])])
