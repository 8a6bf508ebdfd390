"""Nothing is lost: the whole product under real faults (killed workers, a dead broker, receivers
that fail), run as separate processes on PostgreSQL. Each scenario adds a row to the figures
table printed at the end of the run."""

import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.utils import timezone

from events.models import Event
from inventory.services import create_pet
from orders import payments
from orders.events import OrderEvent
from orders.models import Order, OrderEmail
from tests.conftest import ROOT, eventually
from tests.reliability.stack import Api, Receiver, Stack
from webhooks.events import OPERATIONAL, WebhookEvent
from webhooks.models import Delivery

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ORDER = {"payment": {"method": "card", "token": "tok_visa"}}


@pytest.fixture(autouse=True)
def _needs_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)")


@pytest.fixture
def make_stack(worker_env, tmp_path):
    stacks = []

    def make(workers: int = 1, broker_url: str | None = None, **env) -> Stack:
        stack = Stack(base_env={**worker_env, **env}, logs=tmp_path, broker_url=broker_url)
        stacks.append(stack)
        return stack.start(workers=workers)

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture
def receivers():
    made = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()


class Run:
    """A customer and a staff warehouse, each with an endpoint, placing orders on a stack."""

    def __init__(self, stack: Stack, make_customer, make_receiver, stock: int = 10_000):
        self.stack = stack
        self.customer, self.warehouse = make_customer(), make_customer(staff=True)
        self.api = Api(stack.url, self.customer.key)
        self.pet = create_pet(
            name="Goldfish", species="fish", price=Decimal("3.50"), stock=stock, low_stock_threshold=0
        )
        self.shop, self.crm = make_receiver(), make_receiver()
        self.api.subscribe(self.shop)
        Api(stack.url, self.warehouse.key).subscribe(self.crm, all_customers=True)
        self.since = timezone.now()
        self.order_ids: list[str] = []
        self.statuses: list[int] = []

    def place(self, count: int, *, concurrency: int = 8) -> None:
        def one(_):
            response = self.api.post("/v1/orders", {"items": [{"pet_id": str(self.pet.id), "quantity": 1}], **ORDER})
            self.statuses.append(response.status_code)
            if response.status_code == 201:
                self.order_ids.append(response.json()["id"])

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(count)))

    def expected_ids(self, *, owner) -> set[str]:
        # Not the test events, nor the operational ones: they are about an endpoint and never go to it.
        events = Event.objects.filter(created_at__gte=self.since).exclude(type__in=[WebhookEvent.TEST, *OPERATIONAL])
        if owner is not None:
            events = events.filter(owner=owner)
        return {str(event_id) for event_id in events.values_list("id", flat=True)}

    def lost(self) -> int:
        missing_shop = self.expected_ids(owner=self.customer.user) - self.shop.ids()
        missing_crm = self.expected_ids(owner=None) - self.crm.ids()
        return len(missing_shop) + len(missing_crm)

    def all_done(self) -> bool:
        completed = Event.objects.filter(
            type=OrderEvent.COMPLETED, subject__in=[f"order/{order_id}" for order_id in self.order_ids]
        ).count()
        return completed == len(self.order_ids) and self.lost() == 0

    def drain(self, *, timeout: float) -> float:
        started = time.monotonic()
        eventually(
            self.all_done,
            timeout=timeout,
            message=lambda: f"every order completed and every event delivered (so far: {self.progress()})",
        )
        return time.monotonic() - started

    def progress(self) -> dict:
        orders = Order.objects.filter(id__in=self.order_ids)
        return {
            "orders": orders.count(),
            "completed": orders.filter(completed_at__isnull=False).count(),
            "unpaid": orders.filter(payment_status="pending").count(),
            "stock not committed": orders.filter(stock_committed_at__isnull=True).count(),
            "mails claimed, not sent": OrderEmail.objects.filter(order__in=orders, sent_at__isnull=True).count(),
            "undispatched events": Event.objects.filter(dispatched_at__isnull=True).count(),
            "pending deliveries": Delivery.objects.filter(status="pending").count(),
            "lost": self.lost(),
        }

    def assert_charged_once_each(self) -> None:
        ledger = RedisCache(f"{self.stack.redis_url}/1", {"KEY_PREFIX": "petstore"})
        for order in Order.objects.filter(id__in=self.order_ids):
            assert order.status == "approved" and order.payment_status == "succeeded"
            assert ledger.get(payments.TestGateway.charge_key(f"order-{order.id}")) == order.charge_id

    def duplicates(self) -> int:
        return self.shop.duplicates() + self.crm.duplicates()


def test_killed_workers_lose_nothing(make_stack, make_customer, receivers, figures):
    stack = make_stack()
    run = Run(stack, make_customer, receivers)
    kills = 0
    stop = threading.Event()

    def kill_workers():
        nonlocal kills
        while kills < 10 and not stop.wait(1.0):
            stack.signal_worker(0, signal.SIGKILL)
            kills += 1

    killer = threading.Thread(target=kill_workers)
    killer.start()
    run.place(250)
    killer.join(timeout=120)
    stop.set()
    assert kills >= 10

    drain = run.drain(timeout=300)

    run.assert_charged_once_each()
    figures.add(
        "worker SIGKILL ×10",
        orders=len(run.order_ids),
        faults=kills,
        lost=run.lost(),
        duplicates=run.duplicates(),
        drain=drain,
        stack=stack,
    )


def test_a_gracefully_stopped_worker_finishes_its_tasks(make_stack, make_customer, receivers, figures):
    stack = make_stack()
    run = Run(stack, make_customer, receivers)
    placing = threading.Thread(target=run.place, args=(100,))
    placing.start()
    time.sleep(1)
    stack.signal_worker(0, signal.SIGTERM)
    placing.join()

    drain = run.drain(timeout=120)

    run.assert_charged_once_each()
    figures.add(
        "worker SIGTERM",
        orders=len(run.order_ids),
        faults=1,
        lost=run.lost(),
        duplicates=run.duplicates(),
        drain=drain,
        stack=stack,
    )


def test_a_broker_outage_loses_nothing_even_when_redis_comes_back_empty(make_stack, make_customer, receivers, figures):
    stack = make_stack()
    run = Run(stack, make_customer, receivers)
    run.place(50)
    stack.stop_redis()
    outage_started = time.monotonic()
    run.place(50, concurrency=4)
    time.sleep(max(0, 15 - (time.monotonic() - outage_started)))
    assert Api(stack.url, run.customer.key).session.get(f"{stack.url}/readyz").status_code == 503
    stack.start_redis()  # empty: whatever was queued is gone

    assert run.statuses.count(201) == 100, "orders must be accepted while the broker is down"
    drain = run.drain(timeout=240)

    # The test gateway's ledger lived in that Redis, so only the orders can tell: each was paid.
    assert Order.objects.filter(id__in=run.order_ids, status="approved").count() == 100
    figures.add(
        "Redis down 15 s, back empty",
        orders=100,
        faults=1,
        lost=run.lost(),
        duplicates=run.duplicates(),
        drain=drain,
        stack=stack,
    )


def test_receivers_that_fail_for_a_while_or_for_good_get_everything(make_stack, make_customer, receivers, figures):
    stack = make_stack(WEBHOOK_RETRY_SCHEDULE="1,2,4,8")
    run = Run(stack, make_customer, receivers)
    run.shop.failing = True  # recovers after a while
    run.crm.failing = True  # never recovers until replayed
    run.place(50)
    time.sleep(6)
    run.shop.failing = False

    eventually(
        lambda: not run.expected_ids(owner=run.customer.user) - run.shop.ids(),
        timeout=120,
        message="the recovered receiver to get everything",
    )
    eventually(
        lambda: not Delivery.objects.filter(status="pending").exists(), timeout=120, message="retries to run out"
    )
    failed = Delivery.objects.filter(status="failed").count()
    assert failed >= 50
    run.crm.failing = False
    subprocess.run(
        [sys.executable, "manage.py", "replay_webhooks"],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    drain = run.drain(timeout=120)

    figures.add(
        "receivers down (one for 6 s, one until replay)",
        orders=50,
        faults=2,
        lost=run.lost(),
        duplicates=run.duplicates(),
        drain=drain,
        stack=stack,
    )


def test_rabbitmq_as_the_broker(make_stack, make_customer, receivers, figures):
    if not Stack.port_open(5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (scripts/ensure-services rabbitmq starts it)")
    stack = make_stack(broker_url="amqp://guest:guest@127.0.0.1:5672//")
    run = Run(stack, make_customer, receivers)
    run.place(50)

    drain = run.drain(timeout=120)

    run.assert_charged_once_each()
    figures.add(
        "RabbitMQ broker", orders=50, faults=0, lost=run.lost(), duplicates=run.duplicates(), drain=drain, stack=stack
    )


def test_two_hundred_buyers_over_http_for_ten_units(make_stack, make_customer, receivers):
    stack = make_stack()
    run = Run(stack, make_customer, receivers, stock=10)

    run.place(200, concurrency=50)

    assert sorted(run.statuses) == [201] * 10 + [409] * 190
    run.pet.refresh_from_db()
    assert run.pet.stock == 0
    run.drain(timeout=120)
    run.pet.refresh_from_db()
    assert (run.pet.stock, run.pet.reserved) == (0, 0)
