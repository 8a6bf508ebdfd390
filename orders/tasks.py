"""Thin tasks: load by id, call the service, decide on retry. `queue_steps` is how the order
pipeline's steps (`orders.pipeline`) enter the queue.

A task whose service records events calls it `with dispatching_here():` the worker is already in
the background, so it dispatches those events itself once their transaction commits
(`events.outbox.recording`).
"""

import logging
import uuid
from collections.abc import Iterable

from celery import shared_task

from events.outbox.recording import dispatching_here
from orders import services
from orders.payments import PaymentTemporarilyFailed
from orders.pipeline import MAIL_SENT_BY, Step

logger = logging.getLogger(__name__)


@shared_task(
    name="orders.charge_payment",
    autoretry_for=(PaymentTemporarilyFailed,),
    retry_backoff=2,
    retry_backoff_max=60,  # stays well under the broker's visibility timeout
    retry_jitter=True,
    max_retries=8,
)
def charge_payment(order_id: str) -> None:
    with dispatching_here():
        services.charge_payment(order_id=order_id)


@shared_task(name="orders.commit_stock")
def commit_stock(order_id: str) -> None:
    with dispatching_here():
        services.commit_stock(order_id=order_id)


@shared_task(name="orders.send_order_email", autoretry_for=(OSError,), retry_backoff=5, max_retries=5)
def send_order_email(order_id: str, kind: str) -> None:
    with dispatching_here():
        services.send_order_email(order_id=order_id, kind=kind)


@shared_task(name="orders.cancel_unpaid_orders")
def cancel_unpaid_orders() -> int:
    with dispatching_here():
        return services.cancel_unpaid_orders()


@shared_task(name="orders.resume_stalled_orders")
def resume_stalled_orders() -> int:
    stalled = services.stalled_orders()
    for order_id, steps in stalled:
        queue_steps(order_id, steps)
    if stalled:
        logger.info("resumed %d stalled orders", len(stalled))
    return len(stalled)


@shared_task(name="orders.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    return services.prune_idempotency_keys()


def queue_steps(order_id: uuid.UUID | str, steps: Iterable[Step]) -> None:
    for step in steps:
        match step:
            case Step.CHARGE_PAYMENT:
                charge_payment.delay(str(order_id))
            case Step.COMMIT_STOCK:
                commit_stock.delay(str(order_id))
            case _:
                send_order_email.delay(str(order_id), str(MAIL_SENT_BY[step]))
