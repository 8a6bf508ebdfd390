"""The order lifecycle: placed → approved → shipped → delivered; placed|approved → cancelled.

Each transition is one function that checks it, changes the order and records its events in the
same transaction. Functions run by workers are idempotent: a task delivered twice changes
nothing the second time.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from core import log_context
from core.errors import DomainError, TryAgainLater
from core.pruning import delete_in_batches
from core.serializers import representer
from core.transactions import atomic_ending_with
from events.models import Event
from events.outbox.recording import record, recording_together, recording_with_the_commit
from inventory import services as inventory
from orders import handoff
from orders.emails import build_order_email
from orders.events import OrderEvent, PaymentEvent, order_subject
from orders.models import (
    CancelReason,
    EmailKind,
    IdempotencyKey,
    Order,
    OrderEmail,
    OrderItem,
    OrderStatus,
    PaymentStatus,
)
from orders.payments import PaymentDeclined, PaymentTemporarilyFailed, get_gateway
from orders.pipeline import PAID, Step, missing_steps
from orders.serializers import OrderSerializer, PaymentSerializer

logger = logging.getLogger(__name__)

TRANSITIONS = {
    OrderStatus.PLACED: {OrderStatus.APPROVED, OrderStatus.CANCELLED},
    OrderStatus.APPROVED: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.SHIPPED: {OrderStatus.DELIVERED},
    OrderStatus.DELIVERED: set(),
    OrderStatus.CANCELLED: set(),
}


class InvalidTransition(DomainError):
    code = "invalid-transition"
    title = "The order cannot make this change"


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency-key-reused"
    title = "Idempotency-Key reused with another request"


class MixedCurrencies(DomainError):
    status = 422
    code = "mixed-currencies"
    title = "An order takes one currency"


class PaymentGatewayUnavailable(TryAgainLater):
    code = "payment-gateway-unavailable"
    title = "The payment gateway did not answer"


class TotalOutOfRange(DomainError):
    status = 422
    code = "total-out-of-range"
    title = "The order's total is too large"


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    representation: dict  # the order as the first response showed it
    replayed: bool


represent = representer(OrderSerializer)  # an order as the API and the events show it
_payment_of = representer(PaymentSerializer)


def place_order(*, user: User, items: Sequence[dict], payment: dict, idempotency_key: str | None = None) -> PlacedOrder:
    """Reserve stock, write the order and its `order.created` event in one transaction.

    With an `idempotency_key`, the same key and body within 24 hours return the first order
    instead of placing another; the same key with another body raises `IdempotencyKeyReused`.
    """
    fingerprint = _fingerprint(items=items, payment=payment)
    if idempotency_key and (replay := _replay(user=user, key=idempotency_key, fingerprint=fingerprint)):
        return replay
    quantities = _quantities_of(items)
    try:
        # The stock is reserved last, with its events, and the order's event written after it, by
        # statements sent with the COMMIT: the pets' rows are locked for the server's time alone.
        with recording_with_the_commit(last=lambda: inventory.reserve(quantities=quantities)):
            order = _create_order(user=user, items=items, payment=payment)
            if idempotency_key:
                IdempotencyKey.objects.create(user=user, key=idempotency_key, fingerprint=fingerprint, order=order)
            event = record(
                type=OrderEvent.CREATED, subject=order_subject(order), owner=user, data={"order": represent(order)}
            )
        log_context.bind(order_id=order.id)
        logger.info("order placed: %s %s", order.total, order.currency)
    except IntegrityError as error:
        # Another request with the same key committed first: answer as it did.
        if idempotency_key and (replay := _replay(user=user, key=idempotency_key, fingerprint=fingerprint)):
            return replay
        # Or the reservation sent with the COMMIT found too little stock, or a pet gone.
        if refused := inventory.refusal(quantities, error):
            raise refused from None
        raise
    return PlacedOrder(order=order, representation=event.data["order"], replayed=False)


def _quantities_of(items: Sequence[dict]) -> dict[uuid.UUID, int]:
    return {item["pet_id"]: item["quantity"] for item in items}


def _create_order(*, user: User, items: Sequence[dict], payment: dict) -> Order:
    quantities = _quantities_of(items)
    pets = inventory.pets_to_order(pet_ids=quantities)
    currencies = {pet.currency for pet in pets.values()}
    if len(currencies) > 1:
        raise MixedCurrencies(f"These pets are priced in {', '.join(sorted(currencies))}; order them separately.")
    total = sum(pets[pet_id].price * quantity for pet_id, quantity in quantities.items())
    if total >= _TOTAL_BOUND:
        raise TotalOutOfRange(f"The total would be {total:f}; an order's total must be below {_TOTAL_BOUND:f}.")
    order = Order.objects.create(
        user=user,
        total=total,
        currency=currencies.pop(),
        payment_method=payment["method"],
        payment_token=payment["token"],
    )
    items = OrderItem.objects.bulk_create(
        OrderItem(order=order, pet_id=pet_id, quantity=quantity, unit_price=pets[pet_id].price)
        for pet_id, quantity in quantities.items()
    )
    order._prefetched_objects_cache = {"items": items}  # represent() needs no query to list them
    return order


_total_field = Order._meta.get_field("total")
# The first total the column cannot hold (10 ** 10 for 12 digits, 2 of them decimals); prices
# have 2 decimals, so every total below it fits exactly.
_TOTAL_BOUND = Decimal(10) ** (_total_field.max_digits - _total_field.decimal_places)


def _fingerprint(*, items: Sequence[dict], payment: dict) -> str:
    body = json.dumps({"items": items, "payment": payment}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(*, user: User, key: str, fingerprint: str) -> PlacedOrder | None:
    expired_before = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=expired_before).delete()
    kept = IdempotencyKey.objects.filter(user=user, key=key).select_related("order").first()
    if kept is None:
        return None
    if kept.fingerprint != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body.")
    created = Event.objects.get(subject=order_subject(kept.order_id), type=OrderEvent.CREATED)
    return PlacedOrder(order=kept.order, representation=created.data["order"], replayed=True)


_ITEMS_WITH_PETS = Prefetch("items", OrderItem.objects.select_related("pet"))  # what a mail names


def _locked(order_id: uuid.UUID, *, with_related: Sequence[str] = ("items",)) -> Order:
    """The order, its row locked until the transaction ends, with its user and `with_related`."""
    log_context.bind(order_id=order_id)
    # `of=("self",)`: lock the order row only. Locking the joined user row too would block every
    # insert that references the user (new orders, events) and deadlock with order placement.
    orders = Order.objects.select_for_update(of=("self",)).select_related("user").prefetch_related(*with_related)
    return orders.get(id=order_id)


def _quantities(order: Order) -> dict[uuid.UUID, int]:
    return {item.pet_id: item.quantity for item in order.items.all()}


def _transition(order: Order, new_status: OrderStatus) -> None:
    """Move the order on (already locked, inside a transaction) and record the change."""
    previous_status = order.status
    if new_status not in TRANSITIONS[previous_status]:
        raise InvalidTransition(f"An order that is {previous_status} cannot become {new_status}.")
    order.status = new_status
    order.steps_left = True  # the new status may have steps of its own (a mail, the stock)
    order.save()
    record(
        type=OrderEvent.STATUS_CHANGED,
        subject=order_subject(order),
        owner=order.user,
        data={"order": represent(order), "previous_status": previous_status, "new_status": new_status},
    )


def _record_order_event(order: Order, type: OrderEvent) -> None:
    record(type=type, subject=order_subject(order), owner=order.user, data={"order": represent(order)})


def _record_payment_event(order: Order, type: PaymentEvent) -> None:
    record(
        type=type,
        subject=order_subject(order),
        owner=order.user,
        data={"payment": _payment_of(order), "order": represent(order)},
    )


def charge_payment(*, order_id: uuid.UUID) -> Order:
    """Charge a placed order. Approves it and commits its stock, then sends its confirmation
    (`_confirm`), or cancels it with `payment_failed` if declined; the events of either outcome
    are written together.

    `PaymentTemporarilyFailed` is left to the caller, which tries again later. The order stays
    locked while the gateway answers, so a concurrent cancel waits and sees the outcome; the
    gateway's idempotency key keeps a repeated attempt from charging twice.

    The stock is sold last, after the events were written, by statements sent with the COMMIT
    (`_sold_as_it_commits`): the pets' rows, which every buyer of a popular pet needs, stay locked
    for the server's time alone. The events' consumers (the webhook fan-out) run once it has committed
    (`dispatching_here()` in the task), with no row of the order or its pets locked. The order is
    read with its items' pets, which the confirmation's mail names.
    """
    with _sold_as_it_commits() as sell, recording_together():
        order = _locked(order_id, with_related=(_ITEMS_WITH_PETS,))
        if order.status != OrderStatus.PLACED or order.payment_status != PaymentStatus.PENDING:
            return order
        gateway = get_gateway()
        try:
            order.charge_id = gateway.charge(
                amount=order.total,
                currency=order.currency,
                token=order.payment_token,
                idempotency_key=charge_key(order),
            )
        except PaymentDeclined as decline:
            logger.info("payment declined for order %s: %s", order.id, decline)
            order.payment_status = PaymentStatus.FAILED
            order.payment_token = ""  # of no further use: not kept
            order.save()
            _record_payment_event(order, PaymentEvent.FAILED)
            _cancel(order, reason=CancelReason.PAYMENT_FAILED)
            return order
        logger.info("payment captured: %s", order.charge_id)
        order.payment_status = PaymentStatus.SUCCEEDED
        order.payment_token = ""  # captured: the token is of no further use, so it is not kept
        sell(order)
        _transition(order, OrderStatus.APPROVED)
        _record_payment_event(order, PaymentEvent.SUCCEEDED)
    _confirm(order)
    return order


def _confirm(order: Order) -> None:
    """Send the confirmation of a payment that has just committed, in a transaction of its own:
    never for a payment that did not commit, and by the same worker, with no step between. A mail
    that fails, for whatever reason, leaves the payment standing and is queued as its own step
    (`orders.handoff`); the stalled-order sweep is the backstop.

    The mail shows the order as the payment left it (`order`, with its items' pets), and nothing
    reads or locks it again: the mail's record is what keeps a second confirmation from going
    (`_record_email`), and the order is completed by one conditional UPDATE (`_complete_unchanged`).
    """
    try:
        with transaction.atomic(), recording_together():
            if _record_email(order, EmailKind.CONFIRMATION):
                _send(order, EmailKind.CONFIRMATION)
                _complete_unchanged(order)
    except Exception as error:  # a mail problem never undoes a payment
        logger.warning(
            "the confirmation of order %s could not be sent after its payment (%r): queued",
            order.id,
            error,
            exc_info=not isinstance(error, OSError),  # the mail server's trouble needs no traceback
        )
        handoff.queue_email_after_commit(order.id, EmailKind.CONFIRMATION)


def _complete_unchanged(order: Order) -> None:
    """Complete the order just confirmed (its mail recorded in this transaction) in one UPDATE,
    on condition that its row is still as `order` shows it (the same `updated_at`), so that the
    `order.completed` event carries the row as it is. An order changed since (cancelled, shipped)
    is locked, read again and completed if it still may be, as after any other mail."""
    now = timezone.now()
    steps_left = bool(missing_steps(order, emails_taken={EmailKind.CONFIRMATION}))
    as_read = Order.objects.filter(id=order.id, updated_at=order.updated_at, completed_at__isnull=True)
    if as_read.update(completed_at=now, steps_left=steps_left, updated_at=now):
        order.completed_at = order.updated_at = now
        order.steps_left = steps_left
        logger.info("order completed")
        _record_order_event(order, OrderEvent.COMPLETED)
        return
    changed = _locked(order.id, with_related=("items", "emails"))
    _complete_if_done(changed, sent=_sent_emails(changed))


@contextmanager
def _sold_as_it_commits() -> Iterator[Callable[[Order], None]]:
    """A transaction in which the orders given to the callable are marked stock-committed at once
    (saved with them), and their reserved units sold by its last statements, which go with its
    COMMIT (`atomic_ending_with`). Nothing is sold if the block raises."""
    sold: list[Order] = []

    def sell(order: Order) -> None:
        order.stock_committed_at = timezone.now()
        sold.append(order)

    def sell_for_good() -> None:
        for order in sold:
            inventory.commit(quantities=_quantities(order))

    with atomic_ending_with(sell_for_good):
        yield sell
    for _ in sold:
        logger.info("stock committed")


def commit_stock(*, order_id: uuid.UUID) -> Order:
    """The order is paid: its reserved units are sold for good. The payment does this itself; as a
    step of its own it repairs a paid order whose stock was never committed."""
    with transaction.atomic(), recording_together():
        order = _locked(order_id, with_related=("items", "emails"))
        if order.status not in PAID or order.stock_committed_at:
            return order
        _commit_stock(order)
        order.save()
        _complete_if_done(order, sent=_sent_emails(order))
        return order


def _commit_stock(order: Order) -> None:
    """Sell the order's reserved units (order locked; the caller saves it)."""
    inventory.commit(quantities=_quantities(order))
    order.stock_committed_at = timezone.now()
    logger.info("stock committed")


def send_order_email(*, order_id: uuid.UUID, kind: EmailKind) -> None:
    """Send the order's mail of this kind once.

    The mail is recorded as sent, sent, and the order completed if that was its last step, in one
    transaction with the order locked: a concurrent task waits and finds the mail recorded; a send
    that fails takes its record with it in the rollback, and the task tries again. A worker that
    dies after the mail left but before the commit leaves no record, so the mail goes again: its
    Message-ID is fixed per order and kind, so mail clients show the two as one.
    """
    with transaction.atomic(), recording_together():
        order = _locked(order_id, with_related=(_ITEMS_WITH_PETS,))
        if not _record_email(order, kind):
            return
        _send(order, kind)
        # The confirmation is the mail that completes an order, and its own record is all the
        # completion needs. Another kind reads which mails went before: it may be the last step.
        # (A late confirmation of a shipped order leaves `steps_left` to the sweep to settle.)
        sent = {kind} if kind == EmailKind.CONFIRMATION else _sent_emails(order, fresh=True)
        _complete_if_done(order, sent=sent)


def _send(order: Order, kind: EmailKind) -> None:
    if order.user.email:
        build_order_email(order=order, kind=kind).send()
    logger.info("%s e-mail sent", kind)


def _sent_emails(order: Order, *, fresh: bool = False) -> set[str]:
    """The kinds of mail the order has had: from its prefetched `emails`, or `fresh` from the database."""
    if fresh:
        return set(OrderEmail.objects.filter(order=order, sent_at__isnull=False).values_list("kind", flat=True))
    return {email.kind for email in order.emails.all() if email.sent_at}


def _record_email(order: Order, kind: EmailKind) -> bool:
    """Record the mail as sent (order locked), unless it was already: one statement, an upsert the
    ORM cannot say (its conflict update has no condition). A record left unsent by an earlier
    release, which sent after claiming in a transaction of its own, is taken over."""
    table = connection.ops.quote_name(OrderEmail._meta.db_table)
    now = OrderEmail._meta.get_field("sent_at").get_db_prep_value(timezone.now(), connection)
    order_id = OrderEmail._meta.get_field("order").get_db_prep_value(order.id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (order_id, kind, claimed_at, sent_at) VALUES (%s, %s, %s, %s)"
            f" ON CONFLICT (order_id, kind) DO UPDATE SET sent_at = excluded.sent_at"
            f" WHERE {table}.sent_at IS NULL RETURNING id",
            [order_id, str(kind), now, now],
        )
        return cursor.fetchone() is not None


def _complete_if_done(order: Order, *, sent: set[str]) -> None:
    """Record `order.completed` once (paid, stock committed and confirmation sent), and note when
    the pipeline has no step left to take for the order as it stands. `sent`: the kinds of mail
    the order has had."""
    changed = []
    if not order.completed_at and order.status in PAID and order.stock_committed_at and EmailKind.CONFIRMATION in sent:
        order.completed_at = timezone.now()
        changed.append("completed_at")
        logger.info("order completed")
        _record_order_event(order, OrderEvent.COMPLETED)
    if order.steps_left and not missing_steps(order, emails_taken=sent):
        order.steps_left = False
        changed.append("steps_left")
    if changed:
        order.save(update_fields=[*changed, "updated_at"])


def cancel_order(*, order_id: uuid.UUID, reason: CancelReason = CancelReason.REQUESTED_BY_CUSTOMER) -> Order:
    """Cancel a placed or approved order: its stock goes back on sale and a payment is refunded.

    Cancelling a cancelled order changes nothing; a shipped one raises `InvalidTransition`. If the
    gateway does not answer (it is asked about a pending payment, and refunds a paid one), nothing
    changes and `PaymentGatewayUnavailable` tells the caller to try again.
    """
    try:
        with transaction.atomic():
            order = _locked(order_id)
            if order.status != OrderStatus.CANCELLED:
                _cancel(order, reason=reason)
            return order
    except PaymentTemporarilyFailed as error:
        raise PaymentGatewayUnavailable(
            "The payment gateway did not answer, so the order was left as it was: try again shortly.", retry_after=5
        ) from error


def charge_key(order: Order) -> str:
    """The order's idempotency key at the gateway: one charge per order, however often tried."""
    return f"order-{order.id}"


def _cancel(order: Order, *, reason: CancelReason) -> None:
    """Cancel (order locked, inside a transaction); money the gateway took is given back.

    A payment still `pending` may have been captured all the same, its outcome never recorded (the
    worker died after the gateway charged, or the gateway timed out after charging): the gateway is
    asked by the charge's idempotency key, and what it took is refunded.
    """
    order.cancel_reason = reason
    gateway = get_gateway()
    if order.payment_status == PaymentStatus.PENDING and (
        charge_id := gateway.find_charge(idempotency_key=charge_key(order))
    ):
        logger.warning("order %s: a charge was captured but never recorded (%s); refunding it", order.id, charge_id)
        order.charge_id, order.payment_status = charge_id, PaymentStatus.SUCCEEDED
    order.payment_token = ""
    _transition(order, OrderStatus.CANCELLED)
    if order.payment_status == PaymentStatus.SUCCEEDED:
        gateway.refund(charge_id=order.charge_id, idempotency_key=f"refund-{order.id}")
        order.payment_status = PaymentStatus.REFUNDED
        order.save()
        _record_payment_event(order, PaymentEvent.REFUNDED)
    inventory.release(quantities=_quantities(order), committed=order.stock_committed_at is not None)
    logger.info("order cancelled: %s", reason)
    _record_order_event(order, OrderEvent.CANCELLED)


def ship_order(*, order_id: uuid.UUID) -> Order:
    with transaction.atomic():
        order = _locked(order_id)
        _transition(order, OrderStatus.SHIPPED)
        _record_order_event(order, OrderEvent.SHIPPED)
        return order


def deliver_order(*, order_id: uuid.UUID) -> Order:
    with transaction.atomic():
        order = _locked(order_id)
        _transition(order, OrderStatus.DELIVERED)
        _record_order_event(order, OrderEvent.DELIVERED)
        return order


def cancel_unpaid_orders() -> int:
    """Cancel orders still waiting for payment after ORDER_PAYMENT_TIMEOUT."""
    deadline = timezone.now() - settings.ORDER_PAYMENT_TIMEOUT
    unpaid = Order.objects.filter(
        status=OrderStatus.PLACED, payment_status=PaymentStatus.PENDING, created_at__lt=deadline
    ).values_list("id", flat=True)
    cancelled = 0
    for order_id in unpaid:
        try:
            with transaction.atomic():
                order = _locked(order_id)
                if order.status == OrderStatus.PLACED and order.payment_status == PaymentStatus.PENDING:
                    _cancel(order, reason=CancelReason.PAYMENT_TIMEOUT)
                    cancelled += 1
        except PaymentTemporarilyFailed:
            logger.warning("order %s left unpaid for now: the payment gateway did not answer", order_id)
    return cancelled


def stalled_orders() -> list[tuple[uuid.UUID, list[Step]]]:
    """Orders that stopped moving mid-way, with the steps they miss (`orders.pipeline`).

    Each step is idempotent, so an order that was merely slow is not harmed by running one again;
    one whose task the broker lost (a restart without persistence) moves on. Only orders with
    `steps_left` are read; one found with nothing missing is marked done. Orders untouched for a
    day are left to staff.
    """
    now = timezone.now()
    candidates = Order.objects.filter(
        steps_left=True, updated_at__lt=now - settings.ORDER_RESUME_AFTER, updated_at__gte=now - timedelta(days=1)
    ).prefetch_related("emails")
    stalled, settled = [], []
    for order in candidates:
        if steps := missing_steps(order, emails_taken=_sent_emails(order)):
            stalled.append((order.id, steps))
        else:
            settled.append(order.id)
    # Not one that moved meanwhile: a transition since the read may have left it a new step.
    Order.objects.filter(id__in=settled, updated_at__lt=now - settings.ORDER_RESUME_AFTER).update(steps_left=False)
    return stalled


def prune_idempotency_keys() -> int:
    """Idempotency keys past IDEMPOTENCY_KEY_TTL: a request with one of them now places a new order."""
    return delete_in_batches(
        IdempotencyKey.objects.filter(created_at__lt=timezone.now() - settings.IDEMPOTENCY_KEY_TTL)
    )
