"""The order services, called directly (no worker): transitions, stock, payment, events."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import DatabaseError
from django.template import TemplateDoesNotExist

from events.models import Event
from events.outbox import dispatch
from inventory.events import InventoryEvent
from inventory.models import MAX_STOCK
from inventory.services import OutOfStock, UnknownPet, create_pet, restock
from orders import payments, services, tasks
from orders.events import OrderEvent, PaymentEvent
from orders.models import CancelReason, EmailKind, IdempotencyKey, Order, OrderEmail, OrderStatus, PaymentStatus
from orders.payments import PaymentTemporarilyFailed
from orders.serializers import OrderSerializer

pytestmark = pytest.mark.django_db


def place(user, pet, quantity=1, token="tok_visa", **kwargs):
    return services.place_order(
        user=user,
        items=[{"pet_id": pet.id, "quantity": quantity}],
        payment={"method": "card", "token": token},
        **kwargs,
    ).order


def event_types(order) -> list[str]:
    return list(Event.objects.filter(subject=f"order/{order.id}").order_by("id").values_list("type", flat=True))


def test_placing_an_order_reserves_stock_and_records_order_created(customer, pet):
    order = place(customer.user, pet, quantity=2)

    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (3, 2)
    assert order.status == OrderStatus.PLACED
    assert order.total == Decimal("251.00")
    assert event_types(order) == ["order.created"]
    created = Event.objects.get(subject=f"order/{order.id}")
    assert created.owner == customer.user
    assert created.data["order"]["total"] == "251.00"


def test_placing_an_order_dispatches_its_event_only_after_commit(customer, pet, django_capture_on_commit_callbacks):
    with mock.patch("events.outbox.handoff.current_app.send_task") as queued_dispatch:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            place(customer.user, pet)
        queued_dispatch.assert_not_called()
        for callback in callbacks:
            callback()
    queued_dispatch.assert_called_once()


@pytest.mark.django_db(transaction=True)  # real commits, so on-commit hooks run inside the task
def test_events_a_worker_records_are_dispatched_by_it_and_its_steps_taken_without_a_trip_through_the_broker(
    customer, pet, mailoutbox
):
    with mock.patch("events.outbox.handoff.current_app.send_task"):
        order = place(customer.user, pet)
    with (
        mock.patch("events.outbox.handoff.current_app.send_task") as queued_dispatch,
        mock.patch("orders.tasks.send_order_email.delay") as queued_mail,
    ):
        tasks.charge_payment.apply(args=[str(order.id)])  # run here, as a worker runs it

    queued_dispatch.assert_not_called()
    queued_mail.assert_not_called()  # the confirmation went with the payment
    assert [mail.to for mail in mailoutbox] == [[customer.user.email]]
    assert Order.objects.get(id=order.id).completed_at is not None
    undispatched = Event.objects.filter(subject=f"order/{order.id}", dispatched_at__isnull=True)
    assert list(undispatched.values_list("type", flat=True)) == ["order.created"]  # queued by the web


@pytest.mark.django_db(transaction=True)
def test_a_step_that_fails_in_the_dispatching_worker_is_queued_as_its_task_and_the_rest_goes_on(customer, pet):
    with mock.patch("events.outbox.handoff.current_app.send_task"):
        order = place(customer.user, pet, token="tok_processingError")  # the gateway fails, then answers
    created = Event.objects.get(subject=f"order/{order.id}", type=OrderEvent.CREATED)
    with mock.patch("orders.tasks.charge_payment.delay") as queued_charge:
        dispatch.dispatch([created.id])  # as the dispatch task does, in a worker

    queued_charge.assert_called_once_with(str(order.id))
    assert Order.objects.get(id=order.id).payment_status == PaymentStatus.PENDING
    assert Event.objects.get(id=created.id).dispatched_at is not None  # the dispatch stands


def test_too_little_stock_places_no_order(customer, pet):
    with pytest.raises(OutOfStock):
        place(customer.user, pet, quantity=6)
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5, 0)
    assert not Order.objects.exists()
    assert not Event.objects.filter(type=OrderEvent.CREATED).exists()


def test_one_short_line_rolls_back_the_whole_order(customer, pet):
    cat = create_pet(name="Tom", species="cat", price=Decimal("10.00"), stock=1)
    with pytest.raises(OutOfStock):
        services.place_order(
            user=customer.user,
            items=[{"pet_id": pet.id, "quantity": 1}, {"pet_id": cat.id, "quantity": 2}],
            payment={"method": "card", "token": "tok_visa"},
        )
    pet.refresh_from_db()
    assert pet.stock == 5
    assert not Order.objects.exists()


def test_unknown_pet_is_refused(customer, pet):
    with pytest.raises(UnknownPet):
        services.place_order(
            user=customer.user,
            items=[{"pet_id": Order().id, "quantity": 1}],
            payment={"method": "card", "token": "tok_visa"},
        )


@pytest.mark.parametrize(
    "failing_step",
    [
        "orders.services.OrderItem.objects.bulk_create",  # after the order row
        "orders.services.IdempotencyKey.objects.create",  # after the items
        "events.outbox.recording._write",  # writing the event itself
        "orders.services.inventory.reserve",  # the stock, before the events are written
    ],
)
def test_a_failure_anywhere_in_the_order_transaction_leaves_no_order_event_or_task(
    customer, pet, django_capture_on_commit_callbacks, failing_step
):
    with (
        mock.patch(failing_step, side_effect=DatabaseError("disk full")),
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(DatabaseError),
    ):
        place(customer.user, pet, idempotency_key="k1")
    assert callbacks == []  # nothing was queued: no payment, e-mail or webhook can follow
    assert not Order.objects.exists()
    assert not Event.objects.filter(type=OrderEvent.CREATED).exists()
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5, 0)


def test_same_idempotency_key_and_body_returns_the_first_order(customer, pet):
    first = services.place_order(
        user=customer.user,
        items=[{"pet_id": pet.id, "quantity": 1}],
        payment={"method": "card", "token": "tok_visa"},
        idempotency_key="abc",
    )
    again = services.place_order(
        user=customer.user,
        items=[{"pet_id": pet.id, "quantity": 1}],
        payment={"method": "card", "token": "tok_visa"},
        idempotency_key="abc",
    )
    assert again.replayed and not first.replayed
    assert again.order.id == first.order.id
    assert again.representation == first.representation
    assert Order.objects.count() == 1
    assert Event.objects.filter(type=OrderEvent.CREATED).count() == 1


def test_same_idempotency_key_with_another_body_is_refused(customer, pet):
    place(customer.user, pet, idempotency_key="abc")
    with pytest.raises(services.IdempotencyKeyReused):
        place(customer.user, pet, quantity=2, idempotency_key="abc")


def test_idempotency_keys_are_per_customer(make_customer, pet):
    alice, bob = make_customer(), make_customer()
    assert place(alice.user, pet, idempotency_key="same").id != place(bob.user, pet, idempotency_key="same").id


def test_an_expired_idempotency_key_places_a_new_order(customer, pet, settings):
    first = place(customer.user, pet, idempotency_key="old")
    IdempotencyKey.objects.update(created_at=first.created_at - settings.IDEMPOTENCY_KEY_TTL * 2)
    assert place(customer.user, pet, idempotency_key="old").id != first.id


def test_captured_payment_approves_the_order_commits_its_stock_and_confirms_it_which_completes_it(
    customer, pet, mailoutbox
):
    order = services.charge_payment(order_id=place(customer.user, pet).id)
    assert (order.status, order.payment_status) == (OrderStatus.APPROVED, PaymentStatus.SUCCEEDED)
    assert order.charge_id.startswith("ch_test_")
    assert event_types(order) == ["order.created", "order.status_changed", "payment.succeeded", "order.completed"]
    assert [mail.to for mail in mailoutbox] == [[customer.user.email]]
    assert list(OrderEmail.objects.filter(order=order, sent_at__isnull=False).values_list("kind", flat=True)) == [
        EmailKind.CONFIRMATION
    ]
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (4, 0)
    assert not Order.objects.get(id=order.id).steps_left
    changed = Event.objects.get(subject=f"order/{order.id}", type=OrderEvent.STATUS_CHANGED)
    assert (changed.data["previous_status"], changed.data["new_status"]) == ("placed", "approved")


def test_declined_payment_cancels_order_and_releases_stock(customer, pet):
    order = services.charge_payment(order_id=place(customer.user, pet, quantity=2, token="tok_chargeDeclined").id)
    assert (order.status, order.payment_status, order.cancel_reason) == (
        OrderStatus.CANCELLED,
        PaymentStatus.FAILED,
        CancelReason.PAYMENT_FAILED,
    )
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5, 0)
    assert event_types(order) == ["order.created", "payment.failed", "order.status_changed", "order.cancelled"]


def test_processing_error_fails_twice_then_charges_once(customer, pet):
    order = place(customer.user, pet, token="tok_processingError")
    for _ in range(2):
        with pytest.raises(PaymentTemporarilyFailed):
            services.charge_payment(order_id=order.id)
    order = services.charge_payment(order_id=order.id)
    assert order.payment_status == PaymentStatus.SUCCEEDED
    assert services.charge_payment(order_id=order.id).charge_id == order.charge_id
    assert Event.objects.filter(subject=f"order/{order.id}", type=PaymentEvent.SUCCEEDED).count() == 1


def test_a_confirmation_that_cannot_be_sent_after_the_payment_is_queued_and_the_payment_stands(
    customer, pet, mailoutbox, django_capture_on_commit_callbacks
):
    order = place(customer.user, pet)
    with (
        mock.patch("django.core.mail.message.EmailMessage.send", side_effect=ConnectionRefusedError),
        mock.patch("orders.handoff.current_app.send_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        paid = services.charge_payment(order_id=order.id)

    assert (paid.status, paid.payment_status) == (OrderStatus.APPROVED, PaymentStatus.SUCCEEDED)
    assert mock.call("orders.send_order_email", (str(order.id), "confirmation")) in queued.call_args_list
    assert not OrderEmail.objects.filter(order=order).exists()
    assert "order.completed" not in event_types(order)
    assert Order.objects.get(id=order.id).steps_left  # the sweep's, should the queued task be lost


def test_a_confirmation_that_fails_for_any_reason_never_undoes_its_payment(
    customer, pet, django_capture_on_commit_callbacks
):
    order = place(customer.user, pet)
    with (
        mock.patch(
            "orders.services.build_order_email", side_effect=TemplateDoesNotExist("orders/email/confirmation.txt")
        ),
        mock.patch("orders.handoff.current_app.send_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        paid = services.charge_payment(order_id=order.id)

    assert (paid.status, paid.payment_status) == (OrderStatus.APPROVED, PaymentStatus.SUCCEEDED)
    assert Order.objects.get(id=order.id).payment_status == PaymentStatus.SUCCEEDED  # committed
    assert mock.call("orders.send_order_email", (str(order.id), "confirmation")) in queued.call_args_list


def test_no_confirmation_goes_out_for_a_payment_that_did_not_commit(customer, pet, mailoutbox):
    order = place(customer.user, pet)
    with (
        mock.patch("inventory.services.commit", side_effect=DatabaseError("the database went away")),
        pytest.raises(DatabaseError),
    ):
        services.charge_payment(order_id=order.id)  # charged at the gateway, not recorded: tried again

    assert mailoutbox == []
    assert Order.objects.get(id=order.id).payment_status == PaymentStatus.PENDING


def test_the_confirmation_completes_the_order_as_its_row_stands(customer, pet, mailoutbox):
    order = place(customer.user, pet)
    services.charge_payment(order_id=order.id)

    done = Order.objects.get(id=order.id)
    assert (done.status, done.steps_left) == (OrderStatus.APPROVED, False)
    assert done.completed_at and done.stock_committed_at
    completed = Event.objects.get(subject=f"order/{order.id}", type=OrderEvent.COMPLETED)
    assert completed.data["order"] == services.represent(done)  # completed_at and updated_at as stored
    assert len(mailoutbox) == 1
    assert pet.name in mailoutbox[0].body


def _while_mailing(change):
    """Make `change` to the order as its confirmation goes, after the payment has committed."""
    build = services.build_order_email

    def build_and_change(*, order, kind):
        change(order.id)
        return build(order=order, kind=kind)

    return mock.patch("orders.services.build_order_email", side_effect=build_and_change)


def test_an_order_shipped_as_its_confirmation_goes_is_completed_as_it_now_is(customer, pet, mailoutbox):
    order = place(customer.user, pet)
    with _while_mailing(lambda order_id: services.ship_order(order_id=order_id)):
        services.charge_payment(order_id=order.id)

    done = Order.objects.get(id=order.id)
    assert (done.status, bool(done.completed_at)) == (OrderStatus.SHIPPED, True)
    completed = Event.objects.get(subject=f"order/{order.id}", type=OrderEvent.COMPLETED)
    assert completed.data["order"]["status"] == OrderStatus.SHIPPED
    assert done.steps_left  # the shipping mail is still to go


def test_an_order_cancelled_as_its_confirmation_goes_is_not_completed(customer, pet, mailoutbox):
    order = place(customer.user, pet)
    with _while_mailing(lambda order_id: services.cancel_order(order_id=order_id)):
        services.charge_payment(order_id=order.id)

    done = Order.objects.get(id=order.id)
    assert (done.status, done.payment_status, done.completed_at) == (
        OrderStatus.CANCELLED,
        PaymentStatus.REFUNDED,
        None,
    )
    assert OrderEvent.COMPLETED not in event_types(order)
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5, 0)


def test_completion_needs_the_confirmation_and_happens_once(customer, pet, mailoutbox):
    order = place(customer.user, pet)
    with mock.patch("django.core.mail.message.EmailMessage.send", side_effect=ConnectionRefusedError):
        services.charge_payment(order_id=order.id)  # the confirmation could not go with it
    assert "order.completed" not in event_types(order)
    services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)
    services.commit_stock(order_id=order.id)
    services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)
    services.commit_stock(order_id=order.id)
    assert event_types(order).count("order.completed") == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [customer.user.email]
    assert mailoutbox[0].alternatives[0][1] == "text/html"
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (4, 0)


def test_a_declined_payment_mails_the_accounts_address_with_no_text_the_customer_chose(make_customer, pet, mailoutbox):
    # An unverified address (anyone's), a username written as a lure: the mail carries only our words.
    lure = "Your-refund-is-waiting-at-evil.example"
    customer = make_customer(email="victim@example.com")
    customer.user.username = lure
    customer.user.save()
    order = services.charge_payment(order_id=place(customer.user, pet, token="tok_chargeDeclined").id)

    services.send_order_email(order_id=order.id, kind=EmailKind.CANCELLATION)

    (mail,) = mailoutbox
    assert mail.to == ["victim@example.com"]
    html = mail.alternatives[0][0]
    assert str(order.id) in mail.body and str(order.id) in html
    assert "evil" not in mail.subject + mail.body + html


def test_placing_an_order_that_takes_stock_below_the_threshold_records_low_stock(customer, pet):
    place(customer.user, pet, quantity=3)  # not paid: the orderable stock changed when it was placed
    low = Event.objects.get(type=InventoryEvent.LOW_STOCK)
    assert low.data["pet"]["stock"] == 2
    assert low.owner is None


def test_the_payment_sells_the_reserved_units_without_a_stock_event(customer, pet):
    order = place(customer.user, pet, quantity=3)
    recorded = Event.objects.filter(subject=f"pet/{pet.id}").count()
    services.charge_payment(order_id=order.id)
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (2, 0)
    assert Event.objects.filter(subject=f"pet/{pet.id}").count() == recorded  # the stock did not change


def test_cancelling_a_paid_order_refunds_it_and_puts_stock_back(customer, pet):
    order = place(customer.user, pet, quantity=2)
    services.charge_payment(order_id=order.id)
    services.commit_stock(order_id=order.id)

    order = services.cancel_order(order_id=order.id)

    assert (order.status, order.payment_status) == (OrderStatus.CANCELLED, PaymentStatus.REFUNDED)
    assert order.cancel_reason == CancelReason.REQUESTED_BY_CUSTOMER
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5, 0)
    assert {"payment.refunded", "order.cancelled"} <= set(event_types(order))


def test_cancelling_a_paid_order_after_a_restock_to_the_limit_keeps_stock_within_it(customer, pet):
    order = place(customer.user, pet, quantity=2)
    services.charge_payment(order_id=order.id)
    services.commit_stock(order_id=order.id)
    restock(pet_id=pet.id, quantity=MAX_STOCK - 3)  # 3 left on sale: now full

    order = services.cancel_order(order_id=order.id)

    assert (order.status, order.payment_status) == (OrderStatus.CANCELLED, PaymentStatus.REFUNDED)
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (MAX_STOCK, 0)
    last = Event.objects.filter(type=InventoryEvent.UPDATED, subject=f"pet/{pet.id}").latest("id")
    assert last.data["pet"]["stock"] == MAX_STOCK


def test_cancelling_a_placed_order_gives_back_all_its_reserved_units_even_at_the_limit(customer, pet):
    order = place(customer.user, pet, quantity=2)
    restock(pet_id=pet.id, quantity=MAX_STOCK - 5)  # the 2 reserved units count towards the limit

    services.cancel_order(order_id=order.id)

    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (MAX_STOCK, 0)


def test_cancelling_twice_changes_nothing_the_second_time(customer, pet):
    order = place(customer.user, pet)
    services.cancel_order(order_id=order.id)
    count = Event.objects.count()
    services.cancel_order(order_id=order.id)
    assert Event.objects.count() == count
    pet.refresh_from_db()
    assert pet.stock == 5


def test_a_shipped_order_cannot_be_cancelled(customer, pet):
    order = place(customer.user, pet)
    services.charge_payment(order_id=order.id)
    services.ship_order(order_id=order.id)
    with pytest.raises(services.InvalidTransition):
        services.cancel_order(order_id=order.id)


def test_only_approved_orders_ship_and_only_shipped_orders_are_delivered(customer, pet):
    order = place(customer.user, pet)
    with pytest.raises(services.InvalidTransition):
        services.ship_order(order_id=order.id)
    with pytest.raises(services.InvalidTransition):
        services.deliver_order(order_id=order.id)
    services.charge_payment(order_id=order.id)
    services.ship_order(order_id=order.id)
    assert services.deliver_order(order_id=order.id).status == OrderStatus.DELIVERED


def test_payment_after_cancellation_charges_nothing(customer, pet):
    order = place(customer.user, pet)
    services.cancel_order(order_id=order.id)
    order = services.charge_payment(order_id=order.id)
    assert order.payment_status == PaymentStatus.PENDING
    assert order.charge_id == ""


def test_unpaid_orders_are_cancelled_after_the_timeout(customer, pet, settings):
    old = place(customer.user, pet)
    Order.objects.filter(id=old.id).update(created_at=old.created_at - settings.ORDER_PAYMENT_TIMEOUT * 2)
    recent = place(customer.user, pet)

    assert services.cancel_unpaid_orders() == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, old.cancel_reason) == (OrderStatus.CANCELLED, CancelReason.PAYMENT_TIMEOUT)
    assert recent.status == OrderStatus.PLACED


def test_stalled_orders_get_their_next_step_queued_again(customer, pet, settings):
    placed = place(customer.user, pet)
    approved = place(customer.user, pet)
    with mock.patch("django.core.mail.message.EmailMessage.send", side_effect=ConnectionRefusedError):
        services.charge_payment(order_id=approved.id)  # paid, its confirmation not sent…
    Order.objects.filter(id=approved.id).update(stock_committed_at=None)  # …nor its stock committed
    cancelled = services.cancel_order(order_id=place(customer.user, pet).id)
    done = place(customer.user, pet)
    services.charge_payment(order_id=done.id)
    services.commit_stock(order_id=done.id)
    services.send_order_email(order_id=done.id, kind=EmailKind.CONFIRMATION)
    long_ago = placed.created_at - settings.ORDER_RESUME_AFTER * 2
    Order.objects.update(updated_at=long_ago)

    with (
        mock.patch("orders.tasks.charge_payment.delay") as charge,
        mock.patch("orders.tasks.commit_stock.delay") as commit,
        mock.patch("orders.tasks.send_order_email.delay") as mail,
    ):
        assert tasks.resume_stalled_orders() == 3

    charge.assert_called_once_with(str(placed.id))
    commit.assert_called_once_with(str(approved.id))
    assert sorted(mail.call_args_list) == sorted(
        [mock.call(str(approved.id), EmailKind.CONFIRMATION), mock.call(str(cancelled.id), EmailKind.CANCELLATION)]
    )
    assert Order.objects.get(id=done.id).completed_at is not None


def test_an_email_record_left_unsent_by_an_earlier_release_is_taken_over_once(customer, pet, settings, mailoutbox):
    order = place(customer.user, pet)
    OrderEmail.objects.create(order=order, kind=EmailKind.CONFIRMATION)  # claimed, never sent

    services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)
    services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)

    assert len(mailoutbox) == 1
    assert mailoutbox[0].extra_headers["Message-ID"] == f"<{order.id}.confirmation@petstore.events>"


def test_a_mail_that_cannot_be_sent_leaves_no_record_and_goes_on_the_next_try(customer, pet, mailoutbox):
    order = place(customer.user, pet)
    with mock.patch("django.core.mail.message.EmailMessage.send", side_effect=ConnectionRefusedError):
        services.charge_payment(order_id=order.id)  # its confirmation left to its step
        with pytest.raises(ConnectionRefusedError):
            services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)
    assert not OrderEmail.objects.filter(order=order).exists()
    assert Order.objects.get(id=order.id).completed_at is None

    services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)

    assert len(mailoutbox) == 1
    assert Order.objects.get(id=order.id).completed_at is not None


def test_an_order_has_steps_left_until_its_pipeline_is_done_and_again_after_a_transition(customer, pet):
    order = place(customer.user, pet)
    with mock.patch("django.core.mail.message.EmailMessage.send", side_effect=ConnectionRefusedError):
        services.charge_payment(order_id=order.id)  # its confirmation left to its step
    assert Order.objects.get(id=order.id).steps_left
    services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)
    assert not Order.objects.get(id=order.id).steps_left  # completed: nothing for the sweep to read

    services.ship_order(order_id=order.id)
    assert Order.objects.get(id=order.id).steps_left  # the shipping mail
    services.send_order_email(order_id=order.id, kind=EmailKind.SHIPPING)
    assert not Order.objects.get(id=order.id).steps_left


def test_the_stalled_order_sweep_settles_an_order_with_nothing_missing(customer, pet, settings):
    order = place(customer.user, pet)
    services.cancel_order(order_id=order.id)
    services.send_order_email(order_id=order.id, kind=EmailKind.CANCELLATION)
    Order.objects.filter(id=order.id).update(
        steps_left=True, updated_at=order.created_at - settings.ORDER_RESUME_AFTER * 2
    )

    assert services.stalled_orders() == []
    assert not Order.objects.get(id=order.id).steps_left


def test_cancelling_an_order_whose_charge_was_captured_but_never_recorded_refunds_it(customer, pet):
    order = place(customer.user, pet)
    gateway = payments.get_gateway()
    # The gateway charged, then the worker died before its transaction committed: still "pending".
    charge_id = gateway.charge(
        amount=order.total, currency=order.currency, token="tok_visa", idempotency_key=services.charge_key(order)
    )

    cancelled = services.cancel_order(order_id=order.id)

    assert (cancelled.payment_status, cancelled.charge_id) == (PaymentStatus.REFUNDED, charge_id)
    assert gateway.ledger.get(f"test-gateway:refund:refund-{order.id}")
    assert "payment.refunded" in event_types(order)


def test_cancelling_an_order_never_charged_refunds_nothing(customer, pet):
    order = place(customer.user, pet)
    cancelled = services.cancel_order(order_id=order.id)
    assert (cancelled.payment_status, cancelled.charge_id) == (PaymentStatus.PENDING, "")
    assert "payment.refunded" not in event_types(order)


def test_the_payment_token_is_not_kept_after_capture(customer, pet):
    order = place(customer.user, pet)
    assert Order.objects.get(id=order.id).payment_token == "tok_visa"
    services.charge_payment(order_id=order.id)
    assert Order.objects.get(id=order.id).payment_token == ""


def test_an_order_is_represented_as_its_serializer_shows_it(customer, pet):
    order = place(customer.user, pet)
    order = Order.objects.prefetch_related("items").get(id=order.id)
    assert services.represent(order) == OrderSerializer(order).data
    assert services.represent(order)["items"][0]["pet_id"] == str(pet.id)
