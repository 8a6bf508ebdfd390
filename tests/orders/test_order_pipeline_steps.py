"""The order pipeline's routing table on its own (`orders.pipeline`): which steps follow each
event, and which steps the stalled-order sweep finds missing for an order in each state. Plain
unsaved orders: no database, no worker."""

import pytest
from django.utils import timezone

from orders.events import OrderEvent, PaymentEvent
from orders.models import EmailKind, Order, OrderStatus, PaymentStatus
from orders.pipeline import MAIL_SENT_BY, STEPS_AFTER, Step, missing_steps

NOW = timezone.now()


def order(status: OrderStatus, payment: PaymentStatus, *, stock_committed: bool = False) -> Order:
    return Order(status=status, payment_status=payment, stock_committed_at=NOW if stock_committed else None)


def test_each_event_that_starts_work_names_its_steps():
    assert STEPS_AFTER == {
        OrderEvent.CREATED: (Step.CHARGE_PAYMENT,),
        OrderEvent.CANCELLED: (Step.CANCELLATION_EMAIL,),
        OrderEvent.SHIPPED: (Step.SHIPPING_EMAIL,),
    }
    # The payment commits the stock and sends the confirmation itself: no step follows it.
    assert not set(STEPS_AFTER) & {OrderEvent.COMPLETED, OrderEvent.DELIVERED, *PaymentEvent}


def test_each_email_step_sends_one_kind_of_mail_and_every_kind_has_its_step():
    assert sorted(MAIL_SENT_BY.values()) == sorted(EmailKind)
    assert set(MAIL_SENT_BY) == set(Step) - {Step.CHARGE_PAYMENT, Step.COMMIT_STOCK}


@pytest.mark.parametrize(
    ("the_order", "emails_taken", "missing"),
    [
        (order(OrderStatus.PLACED, PaymentStatus.PENDING), set(), [Step.CHARGE_PAYMENT]),
        # paid, but the stock and the mail did not follow (a worker died after the capture)
        (order(OrderStatus.APPROVED, PaymentStatus.SUCCEEDED), set(), [Step.COMMIT_STOCK, Step.CONFIRMATION_EMAIL]),
        (order(OrderStatus.APPROVED, PaymentStatus.SUCCEEDED, stock_committed=True), set(), [Step.CONFIRMATION_EMAIL]),
        (order(OrderStatus.APPROVED, PaymentStatus.SUCCEEDED, stock_committed=True), {"confirmation"}, []),
        (order(OrderStatus.CANCELLED, PaymentStatus.FAILED), set(), [Step.CANCELLATION_EMAIL]),
        (order(OrderStatus.CANCELLED, PaymentStatus.REFUNDED), {"cancellation"}, []),
        (
            order(OrderStatus.SHIPPED, PaymentStatus.SUCCEEDED, stock_committed=True),
            {"confirmation"},
            [Step.SHIPPING_EMAIL],
        ),
        (order(OrderStatus.DELIVERED, PaymentStatus.SUCCEEDED, stock_committed=True), {"confirmation", "shipping"}, []),
    ],
    ids=[
        "placed",
        "paid, nothing after",
        "paid, stock committed",
        "paid and mailed",
        "declined",
        "cancelled and mailed",
        "shipped",
        "delivered",
    ],
)
def test_the_sweep_finds_the_steps_an_order_is_missing(the_order, emails_taken, missing):
    assert missing_steps(the_order, emails_taken=emails_taken) == missing


def test_a_placed_order_whose_payment_is_decided_is_not_charged_again():
    for payment in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        assert Step.CHARGE_PAYMENT not in missing_steps(order(OrderStatus.PLACED, payment), emails_taken=set())
