"""Thin tasks: load by id, call the service, decide on retry. The order pipeline's steps
(`orders.pipeline`) are taken by the worker that dispatched the event they follow (`take_steps`),
with no trip through the broker; a step that fails there, and one the stalled-order sweep finds,
enters the queue as its task (`queue_steps`), whose retries take it on.

A step's service is called `with dispatching_here():` the worker is already in the background,
so it dispatches the events the step records itself, those of all its transactions together once
the step ends (the payment's and its confirmation's in one dispatch; `events.outbox.recording`).
A confirmation the payment could not send enters the queue through `orders.handoff`.
"""

import logging
import uuid
from collections.abc import Iterable

from celery import shared_task

from core import tracing
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
    take(Step.CHARGE_PAYMENT, order_id)


@shared_task(name="orders.commit_stock")
def commit_stock(order_id: str) -> None:
    take(Step.COMMIT_STOCK, order_id)


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


def take(step: Step, order_id: uuid.UUID | str) -> None:
    """Do one step of the order's pipeline in this worker."""
    with dispatching_here():
        match step:
            case Step.CHARGE_PAYMENT:
                services.charge_payment(order_id=order_id)
            case Step.COMMIT_STOCK:
                services.commit_stock(order_id=order_id)
            case _:
                services.send_order_email(order_id=order_id, kind=MAIL_SENT_BY[step])


def take_steps(order_id: uuid.UUID | str, steps: Iterable[Step]) -> None:
    """Take the steps that followed an event here, in the worker that dispatched it (each step's
    own events lead on to the next, here too): a burst of orders costs one message each, not one
    per step. A step that fails is queued as its task, which tries it again with its backoff; the
    others go on."""
    for step in steps:
        try:
            with tracing.span(f"step/{step}", parent=tracing.current_traceparent()):  # as a task has its run/
                take(step, order_id)
        except Exception as error:
            expected = isinstance(error, PaymentTemporarilyFailed | OSError)
            logger.warning("%s for order %s failed here (%r): queued", step, order_id, error, exc_info=not expected)
            queue_steps(order_id, [step])


def queue_steps(order_id: uuid.UUID | str, steps: Iterable[Step]) -> None:
    for step in steps:
        match step:
            case Step.CHARGE_PAYMENT:
                charge_payment.delay(str(order_id))
            case Step.COMMIT_STOCK:
                commit_stock.delay(str(order_id))
            case _:
                send_order_email.delay(str(order_id), str(MAIL_SENT_BY[step]))
