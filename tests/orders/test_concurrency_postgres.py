"""Concurrency on PostgreSQL: many buyers at once never oversell."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg import pq
from rest_framework.test import APIClient

from events.models import Event
from inventory.models import Pet
from orders import tasks
from orders.models import Order
from tests.conftest import eventually, order_body
from webhooks.pipeline import fanout

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)")


def run_at_once(count: int, action):
    """Run `action` in `count` threads released together; each thread has its own connection."""
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            return action(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_buyers_for_five_units_make_exactly_five_orders(make_customer, pet):
    buyers = [make_customer() for _ in range(50)]
    Pet.objects.filter(id=pet.id).update(stock=5)

    def buy(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {buyers[index].key}")
        return client.post("/v1/orders", order_body(pet), format="json").status_code

    statuses = run_at_once(50, buy)

    assert sorted(statuses) == [201] * 5 + [409] * 45
    assert Order.objects.count() == 5
    # A worker may be paying them as we look: the pet and the sold orders read in one statement,
    # one snapshot, or a payment committing between two reads would count its unit twice.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stock, reserved + (SELECT count(*) FROM orders_order WHERE stock_committed_at IS NOT NULL)"
            " FROM inventory_pet WHERE id = %s",
            [pet.id],
        )
        assert cursor.fetchone() == (0, 5)


def pay_or_cancel(index: int, *, order_id) -> None:
    from orders import services

    (services.charge_payment, services.cancel_order)[index](order_id=order_id)


def test_a_concurrent_cancel_and_payment_never_both_win(customer, pet):
    from orders import services

    Pet.objects.filter(id=pet.id).update(stock=100)
    for _ in range(20):
        order = services.place_order(
            user=customer.user,
            items=[{"pet_id": pet.id, "quantity": 1}],
            payment={"method": "card", "token": "tok_visa"},
        ).order
        run_at_once(2, partial(pay_or_cancel, order_id=order.id))
        order.refresh_from_db()
        if order.status == "cancelled":
            assert order.payment_status in ("pending", "refunded")  # never charged and kept
        else:
            assert (order.status, order.payment_status) == ("approved", "succeeded")
    pet.refresh_from_db()
    still_held = Order.objects.exclude(status="cancelled").count()
    assert (pet.stock, pet.reserved) == (100 - still_held, still_held)


def test_concurrent_retries_of_one_delivery_send_it_once(customer, httpserver):
    from tests.sending import send_here
    from webhooks import services
    from webhooks.models import Delivery

    httpserver.expect_request("/hook").respond_with_data(status=204)
    endpoint = services.create_endpoint(owner=customer.user, url=httpserver.url_for("/hook"), event_types=["*"])
    delivery = services.send_test_event(endpoint=endpoint)

    run_at_once(10, lambda index: send_here([delivery.id]))

    # A worker of the session may take part in the race too; whoever wins, it is sent once.
    eventually(lambda: Delivery.objects.get(id=delivery.id).attempt_count == 1, message="the attempt")
    time.sleep(0.5)
    assert len(httpserver.log) == 1
    assert Delivery.objects.get(id=delivery.id).attempt_count == 1


def sweep_and_linger(index: int, *, sweep) -> int:
    """A sweep whose transaction is still open while the others run."""
    with transaction.atomic():
        swept = sweep()
        time.sleep(0.5)
    return swept


def test_sweeps_running_at_once_queue_each_due_delivery_once(customer):
    from webhooks import services
    from webhooks.models import Delivery, Endpoint
    from webhooks.pipeline import sweep

    first = services.create_endpoint(owner=customer.user, url="http://127.0.0.1:9/hook", event_types=["*"])
    with mock.patch("webhooks.pipeline.handoff.send") as queue:
        event = services.send_test_event(endpoint=first).event
        endpoints = Endpoint.objects.bulk_create(
            Endpoint(owner=customer.user, url=first.url, secret=first.secret) for _ in range(299)
        )
        Delivery.objects.bulk_create(Delivery(endpoint=endpoint, event=event) for endpoint in endpoints)
        # Due in an hour, and the race run an hour ahead: the session's beat, which sweeps the same
        # database every 2 s, never finds them due and takes none of them first.
        due_at = timezone.now() + timedelta(hours=1)
        Delivery.objects.update(next_attempt_at=due_at, queued_until=None)
        queue.reset_mock()

        with mock.patch.object(timezone, "now", return_value=due_at):
            swept = run_at_once(4, partial(sweep_and_linger, sweep=sweep.queue_due_deliveries))

    queued = [delivery_id for call in queue.call_args_list for delivery_id in call.args[0]]
    assert (sum(swept), len(queued), len(set(queued))) == (300, 300, 300)


def test_sequences_stay_gap_free_and_distinct_under_concurrent_payment_cancel_and_restock(customer, pet):
    """Payments and cancels of the same orders and restocks of their pet, all at once: every
    subject's events are numbered 1, 2, 3… with no gap and no number twice."""
    from events.models import Event, SubjectSequence
    from inventory.services import restock
    from orders import services

    Pet.objects.filter(id=pet.id).update(stock=1000)
    orders = [
        services.place_order(
            user=customer.user,
            items=[{"pet_id": pet.id, "quantity": 1}],
            payment={"method": "card", "token": "tok_visa"},
        ).order
        for _ in range(8)
    ]
    actions = [
        *(partial(services.charge_payment, order_id=order.id) for order in orders),
        *(partial(services.cancel_order, order_id=order.id) for order in orders),
        *(partial(restock, pet_id=pet.id, quantity=1) for _ in range(8)),
    ]

    run_at_once(len(actions), lambda index: actions[index]())

    numbers: dict[str, list[int]] = {}
    for subject, sequence in Event.objects.order_by("subject", "sequence").values_list("subject", "sequence"):
        numbers.setdefault(subject, []).append(sequence)
    assert set(numbers) == {f"order/{order.id}" for order in orders} | {f"pet/{pet.id}"}
    assert len(numbers[f"pet/{pet.id}"]) >= 8 + 1  # the restocks, and the placements and cancels
    for subject, sequences in numbers.items():
        assert sequences == list(range(1, len(sequences) + 1)), subject
    assert dict(SubjectSequence.objects.values_list("subject", "last")) == {
        subject: len(sequences) for subject, sequences in numbers.items()
    }


def test_an_endpoint_disabled_and_enabled_by_many_at_once_changes_and_tells_once_each_way(customer):
    from events.models import Event
    from webhooks import services
    from webhooks.models import Endpoint

    endpoint = services.create_endpoint(owner=customer.user, url="http://127.0.0.1:9/hook", event_types=["*"])

    def switch(index, *, active):
        services.set_endpoint_active(endpoint=Endpoint.objects.get(id=endpoint.id), active=active)

    with mock.patch("events.outbox.handoff.current_app.send_task"):  # the hand-off is not the point here
        for active in (False, True):
            run_at_once(8, partial(switch, active=active))  # staff, the owner and the recorder at once

    changes = Event.objects.filter(subject=f"endpoint/{endpoint.id}").order_by("id")
    assert [event.type for event in changes] == ["endpoint.disabled", "endpoint.enabled"]


def rows_free(*, order_id, pet_id) -> bool:
    """Whether another connection could lock the order and the pet row at once, right now."""

    def probe():
        try:
            with transaction.atomic():
                Order.objects.select_for_update(nowait=True).get(id=order_id)
                Pet.objects.select_for_update(nowait=True).get(id=pet_id)
            return True
        except DatabaseError:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(probe).result()


def placed_for_this_test_alone(customer, pet) -> str:
    """An order whose `order.created` no worker of the session dispatches (nor the relay): its
    payment is this test's to take, not raced by theirs."""
    with mock.patch("events.outbox.handoff.current_app.send_task"):
        order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    Event.objects.filter(subject=f"order/{order_id}").update(dispatched_at=timezone.now())
    return order_id


def test_the_webhook_fan_out_never_runs_while_the_order_or_its_pet_is_locked(customer, pet):
    order_id = placed_for_this_test_alone(customer, pet)
    fan_out = fanout.fan_out
    seen = []

    def probing(*, events, **kwargs):
        seen.append(([event.type for event in events], rows_free(order_id=order_id, pet_id=pet.id)))
        return fan_out(events=events, **kwargs)

    with mock.patch.object(fanout, "fan_out", probing):
        tasks.charge_payment.apply(args=(order_id,))  # with the stock and the confirmation
    order_id = placed_for_this_test_alone(customer, pet)
    with (
        mock.patch.object(fanout, "fan_out", probing),
        mock.patch("django.core.mail.message.EmailMessage.send", side_effect=ConnectionRefusedError),
        mock.patch("orders.handoff.current_app.send_task"),
    ):
        tasks.charge_payment.apply(args=(order_id,))  # its confirmation left to the mail's own task
    with mock.patch.object(fanout, "fan_out", probing):
        tasks.send_order_email.apply(args=(order_id, "confirmation"))

    assert seen == [
        (["order.status_changed", "payment.succeeded", "order.completed"], True),
        (["order.status_changed", "payment.succeeded"], True),
        (["order.completed"], True),
    ]


@contextmanager
def queries_sent():
    """The SQL of every query this connection sends inside the block, as sent."""
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        yield sent


def sent_with_a_commit(sent: list[str]) -> list[str]:
    return [sql for sql in sent if sql.endswith("; COMMIT")]


def test_the_last_statements_of_a_transaction_go_in_one_message_with_its_commit(pet):
    from core.transactions import atomic_ending_with, send_with_the_commit

    read = []
    in_the_hooks = []

    def last():
        send_with_the_commit(
            f"UPDATE {Pet._meta.db_table} SET reserved = 7 WHERE id = %s RETURNING reserved",
            [pet.id.hex],
            read=read.append,
        )
        send_with_the_commit(f"UPDATE {Pet._meta.db_table} SET low_stock_threshold = 0 WHERE id = %s", [pet.id.hex])
        read.append("not yet: queued")

    def hook():  # runs as after any commit, its statement answered at once
        in_the_hooks.append((list(read), Pet.objects.filter(id=pet.id).update(low_stock_threshold=1)))

    with queries_sent() as sent, atomic_ending_with(last):
        Pet.objects.filter(id=pet.id).update(stock=3)
        transaction.on_commit(hook)

    assert len(sent) == 3  # the block's UPDATE; the last two with the COMMIT, one query; the hook's
    assert sent_with_a_commit(sent) == [sent[1]] and sent[1].count("UPDATE") == 2
    assert in_the_hooks == [(["not yet: queued", [(7,)]], 1)]  # read before the hooks ran
    assert connection.connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved, pet.low_stock_threshold) == (3, 7, 1)


def test_inside_another_transaction_the_last_statements_run_as_any_other(pet):
    from core.transactions import atomic_ending_with, send_with_the_commit

    read = []
    with queries_sent() as sent, transaction.atomic():
        with atomic_ending_with(
            lambda: send_with_the_commit(
                f"UPDATE {Pet._meta.db_table} SET stock = 4 WHERE id = %s RETURNING stock",
                [pet.id.hex],
                read=read.append,
            )
        ):
            Pet.objects.filter(id=pet.id).update(reserved=1)
            assert read == []
        assert read == [[(4,)]]  # at once: its COMMIT is the outer block's, nothing to send it with
        Pet.objects.filter(id=pet.id).update(low_stock_threshold=1)

    assert sent_with_a_commit(sent) == []
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved, pet.low_stock_threshold) == (4, 1, 1)


@pytest.mark.parametrize("failing", ["the only", "the first of two"])
def test_a_last_statement_that_fails_undoes_the_whole_transaction(pet, failing):
    from django.db import IntegrityError

    from core.transactions import atomic_ending_with, send_with_the_commit

    other = Pet.objects.create(name="Other", species="cat", price=1, stock=1)
    raw = connection.connection
    ran = []

    def last():
        # refused by its CHECK constraint
        send_with_the_commit(f"UPDATE {Pet._meta.db_table} SET reserved = -1 WHERE id = %s", [pet.id.hex])
        if failing == "the first of two":  # never runs
            send_with_the_commit(
                f"UPDATE {Pet._meta.db_table} SET stock = 0 WHERE id = %s RETURNING stock",
                [other.id.hex],
                read=ran.append,
            )

    for _ in range(3):  # the connection serves on, each time
        with pytest.raises(IntegrityError), atomic_ending_with(last):
            Pet.objects.filter(id=pet.id).update(stock=3)
            transaction.on_commit(lambda: ran.append("on commit"))

    with pytest.raises(ZeroDivisionError), atomic_ending_with(lambda: ran.append("last")):
        Pet.objects.filter(id=pet.id).update(stock=4)
        1 / 0  # noqa: B018 - the block fails: its last statements never run

    assert ran == []
    # The same connection serves on, in no transaction (not closed as broken).
    assert connection.connection is raw
    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
    pet.refresh_from_db()
    other.refresh_from_db()
    assert (pet.stock, pet.reserved, other.stock) == (5, 0, 1)


def test_a_payment_sells_the_stock_in_statements_sent_with_its_commit(customer, pet):
    from orders import services

    order_id = placed_for_this_test_alone(customer, pet)

    with queries_sent() as sent:
        services.charge_payment(order_id=order_id)

    (payment,) = (sql for sql in sent_with_a_commit(sent) if "SET reserved = reserved -" in sql)
    assert payment.startswith(f"UPDATE {Pet._meta.db_table} SET reserved = reserved -")  # sent last
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (4, 0)
    assert Order.objects.get(id=order_id).stock_committed_at is not None


def test_an_order_reserves_its_stock_and_writes_its_events_in_one_message_with_its_commit(customer, pet):
    with queries_sent() as sent:
        response = customer.client.post("/v1/orders", order_body(pet), format="json")

    assert response.status_code == 201
    (written,) = sent_with_a_commit(sent)
    assert sent.index(written) == len(sent) - 1  # the request's last query
    reservation, events, commit = written.split("; ")
    assert commit == "COMMIT"
    assert reservation.startswith(f"WITH change AS (UPDATE {Pet._meta.db_table} SET stock = stock - %s")
    assert events.startswith('WITH numbers AS (INSERT INTO "events_subjectsequence"')
    created = Event.objects.get(subject=f"order/{response.json()['id']}")
    assert (created.type, created.sequence, created.data["order"]) == ("order.created", 1, response.json())
    assert Event.objects.filter(subject=f"pet/{pet.id}").latest("sequence").type == "inventory.updated"


def test_with_server_side_binding_an_order_runs_its_last_statements_one_by_one(customer, pet):
    # Such a query cannot hold several statements: what would go with the COMMIT runs before it.
    with mock.patch("core.transactions._client_side_binding", return_value=False), queries_sent() as sent:
        response = customer.client.post("/v1/orders", order_body(pet), format="json")

    assert response.status_code == 201
    assert sent_with_a_commit(sent) == []
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (4, 1)
    assert Event.objects.filter(subject=f"pet/{pet.id}").latest("sequence").type == "inventory.updated"
    assert Event.objects.get(subject=f"order/{response.json()['id']}").type == "order.created"
