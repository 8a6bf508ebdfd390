"""The order pipeline's one routing table: which steps follow each event.

The dispatcher's receiver (`orders.receivers`) queues the steps that follow an event as it is
dispatched; the stalled-order sweep queues the steps that followed an order's events but are not
done yet. Both read `STEPS_AFTER`, and `orders.tasks.queue_steps` turns steps into tasks. The
payment commits the stock in its transaction and sends the confirmation once it has committed, so
neither follows an event; the sweep still repairs a paid order whose stock was never committed or
whose confirmation never went (the payment queues a confirmation it could not send,
`orders.handoff`).
"""

from collections.abc import Collection
from enum import StrEnum

from orders.events import OrderEvent
from orders.models import EmailKind, Order, OrderStatus, PaymentStatus


class Step(StrEnum):
    CHARGE_PAYMENT = "charge_payment"
    COMMIT_STOCK = "commit_stock"
    CONFIRMATION_EMAIL = "confirmation_email"
    CANCELLATION_EMAIL = "cancellation_email"
    SHIPPING_EMAIL = "shipping_email"


# The mail each e-mail step sends (`orders.tasks.queue_steps`), and which the sweep finds taken.
MAIL_SENT_BY = {
    Step.CONFIRMATION_EMAIL: EmailKind.CONFIRMATION,
    Step.CANCELLATION_EMAIL: EmailKind.CANCELLATION,
    Step.SHIPPING_EMAIL: EmailKind.SHIPPING,
}


STEPS_AFTER: dict[str, tuple[Step, ...]] = {
    OrderEvent.CREATED: (Step.CHARGE_PAYMENT,),
    OrderEvent.CANCELLED: (Step.CANCELLATION_EMAIL,),
    OrderEvent.SHIPPED: (Step.SHIPPING_EMAIL,),
}

PAID = (OrderStatus.APPROVED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


def missing_steps(order: Order, *, emails_taken: Collection[str]) -> list[Step]:
    """The steps that followed the order's events so far and are not done. `emails_taken`: the
    kinds of mail already sent or being sent."""
    happened = [OrderEvent.CREATED]
    if order.status == OrderStatus.CANCELLED:
        happened.append(OrderEvent.CANCELLED)
    if order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        happened.append(OrderEvent.SHIPPED)
    steps = [step for event in happened for step in STEPS_AFTER[event]]
    if order.status in PAID:  # done with the capture; a repair for an order where they were not
        steps[:0] = [Step.COMMIT_STOCK, Step.CONFIRMATION_EMAIL]
    return [step for step in steps if not _done(step, order, emails_taken)]


def _done(step: Step, order: Order, emails_taken: Collection[str]) -> bool:
    """Whether the sweep may leave the step out. Each service checks again under its lock (a
    step queued twice does nothing the second time); this only spares the queue the task."""
    match step:
        case Step.CHARGE_PAYMENT:
            return not (order.status == OrderStatus.PLACED and order.payment_status == PaymentStatus.PENDING)
        case Step.COMMIT_STOCK:
            return bool(order.stock_committed_at) or order.status == OrderStatus.CANCELLED
        case Step.CONFIRMATION_EMAIL:
            return MAIL_SENT_BY[step] in emails_taken or order.status == OrderStatus.CANCELLED
        case _:
            return MAIL_SENT_BY[step] in emails_taken
