"""The hand-off to the queue, the orders app's lowest room: a step the services could not take
where they ran is queued as its task once their transaction commits, sent by name so that the
services below the tasks can hand work on without importing them."""

import logging
import uuid

from celery import current_app
from django.db import transaction

from orders.models import EmailKind

logger = logging.getLogger(__name__)

SEND_ORDER_EMAIL_TASK = "orders.send_order_email"  # orders.tasks.send_order_email


def queue_email_after_commit(order_id: uuid.UUID, kind: EmailKind) -> None:
    """Queue the order's mail of this kind as its task (with its retries) once the caller's
    transaction commits, or at once outside one. If the broker cannot be reached, the order keeps
    `steps_left` and the stalled-order sweep queues the mail later."""

    def queue() -> None:
        try:
            current_app.send_task(SEND_ORDER_EMAIL_TASK, (str(order_id), str(kind)))
        except Exception:  # noqa: BLE001 - broker errors vary by transport
            logger.warning("broker unreachable: the %s mail of order %s is left to the sweep", kind, order_id)

    transaction.on_commit(queue, robust=True)
