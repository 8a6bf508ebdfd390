"""The event bus on a real RabbitMQ (CONTRACT §8), with a real Celery worker and beat, and the
warehouse as a real `manage.py run_warehouse` process.

Everything goes through a TCP proxy of the test's own in front of RabbitMQ, which a test cuts as
an outage; the exchange and the warehouse's queue have names of this run's own, so that other
checkouts' runs on the same RabbitMQ never meet these.
"""

import json
import signal
import time
import uuid
from datetime import timedelta
from unittest import mock

import pytest
import redis
from django.test import override_settings
from kombu import Connection, Queue

from events.bus import rabbitmq as bus
from events.models import Event
from harness import PYTHON, Processes, TcpProxy, port_open
from orders.models import Order, OrderStatus
from tests.conftest import eventually, order_body

pytestmark = pytest.mark.worker

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


class Bus:
    def __init__(self, exchange: str, warehouse_queue: str, proxy: TcpProxy, processes: Processes, env: dict):
        self.exchange, self.warehouse_queue, self.proxy = exchange, warehouse_queue, proxy
        self.processes, self.env = processes, env
        self.connection = Connection(RABBITMQ)  # the test's own, straight to RabbitMQ (never cut)
        self.channel = self.connection.channel()

    def queue(self, *patterns: str) -> Queue:
        """A queue of the test's own, bound with `patterns`: it collects what the product publishes."""
        queue = Queue(f"test.{uuid.uuid4().hex}", exchange=bus.exchange(), exclusive=True)(self.channel)
        queue.declare()
        for pattern in patterns:
            queue.bind_to(exchange=self.exchange, routing_key=pattern)
        return queue

    def received(self, queue: Queue) -> list:
        messages = []
        while (message := queue.get(no_ack=True)) is not None:
            messages.append(message)
        return messages

    def close(self) -> None:
        self.channel.exchange_delete(self.exchange)
        self.channel.queue_delete(self.warehouse_queue)
        self.connection.close()


@pytest.fixture(scope="module")
def event_bus(worker_processes, worker_env, tmp_path_factory):
    """A proxy to RabbitMQ, a unique exchange and warehouse queue; this process and a worker and
    beat of the module's own (the session's have no bus) publish through the proxy."""
    if not port_open(5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (scripts/ensure-services rabbitmq starts it)")
    worker_processes.stop()
    run = uuid.uuid4().hex[:12]
    exchange, warehouse_queue = f"petstore.events.test-{run}", f"warehouse.orders.test-{run}"
    proxy = TcpProxy(("127.0.0.1", 5672)).start()
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}//"
    env = {
        **worker_env,
        "EVENT_BUS_URL": url,
        "EVENT_BUS_EXCHANGE": exchange,
        "EVENT_BUS_TIMEOUT": "1",
        "WAREHOUSE_QUEUE": warehouse_queue,
        "WAREHOUSE_PICK_SECONDS": "3",
        "OUTBOX_RELAY_MAX_DELAY": "4",
    }
    bus_settings = override_settings(
        EVENT_BUS_URL=url,
        EVENT_BUS_EXCHANGE=exchange,
        EVENT_BUS_TIMEOUT=1,
        WAREHOUSE_QUEUE=warehouse_queue,
        OUTBOX_RELAY_AFTER=timedelta(seconds=1),
        OUTBOX_RELAY_MAX_DELAY=timedelta(seconds=4),
    )
    queues = mock.patch.dict(bus._durable_queues, clear=True)
    with bus_settings, queues:
        bus.register_queue(warehouse_queue, patterns=["order.completed"])
        bus.reset()
        processes = Processes(env=env, logs=tmp_path_factory.mktemp("bus-logs"))
        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
        processes.start_workers(loglevel="INFO", concurrency=8)
        processes.start_beat(loglevel="INFO")
        the_bus = Bus(exchange, warehouse_queue, proxy, processes, env)
        try:
            yield the_bus
        finally:
            processes.stop_all()
            bus.reset()
            proxy.stop()
            the_bus.close()


def order_events(order_id) -> dict[str, Event]:
    return {
        str(event.id): event for event in Event.objects.filter(subject=f"order/{order_id}", type__startswith="order.")
    }


def completed(order_id) -> bool:
    return Order.objects.filter(id=order_id, completed_at__isnull=False).exists()


def test_without_a_bus_nothing_awaits_it_and_nothing_is_published(customer, pet, settings):
    assert not settings.EVENT_BUS_URL  # first in this module: before its bus is set up
    with mock.patch("events.bus.rabbitmq.publish_batch") as publish_batch:
        customer.client.post("/v1/orders", order_body(pet), format="json")
    publish_batch.assert_not_called()
    assert not Event.objects.filter(bus_publish_at__isnull=False).exists()


def test_a_queue_bound_to_order_star_receives_every_event_of_an_order(event_bus, transactional_db, customer, pet):
    queue = event_bus.queue("order.*")

    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    eventually(lambda: completed(order_id), message="the order to complete")

    messages = {}

    def every_event_arrived():
        messages.update((message.properties["message_id"], message) for message in event_bus.received(queue))
        return set(messages) == set(order_events(order_id))

    eventually(
        every_event_arrived, message=lambda: f"{sorted(order_events(order_id))} on the bus, got {sorted(messages)}"
    )
    events = order_events(order_id)
    assert {event.type for event in events.values()} >= {"order.created", "order.status_changed", "order.completed"}
    for event_id, message in messages.items():
        event = events[event_id]
        assert json.loads(message.body) == json.loads(json.dumps(event.envelope()))
        assert message.delivery_info["routing_key"] == event.type
        assert message.properties["content_type"] == "application/json"
        assert message.properties["type"] == event.type
        assert message.properties["delivery_mode"] == 2
        assert message.properties["timestamp"] == int(event.created_at.timestamp())
    # Confirmed events are marked once the bus's confirms are back, a moment after consumers have them.
    eventually(lambda: not Event.objects.filter(bus_publish_at__isnull=False).exists(), message="every event confirmed")


@pytest.mark.slow
def test_while_the_bus_is_down_orders_get_201_promptly_and_the_relay_publishes_every_event_later(
    event_bus, transactional_db, customer, pet
):
    queue = event_bus.queue("#")
    event_bus.proxy.cut()
    try:
        order_ids = []
        # The request never publishes (publishes counted in this process, the one the test client's
        # requests run in); the bound on its time is the loaded test machine's, far above a
        # request's own, and says only that nothing waited.
        with mock.patch.object(bus, "publish_batch", wraps=bus.publish_batch) as publishing:
            for _ in range(4):
                started = time.monotonic()
                response = customer.client.post("/v1/orders", order_body(pet), format="json")
                assert response.status_code == 201
                assert time.monotonic() - started < 3.0
                order_ids.append(response.json()["id"])
        assert publishing.call_count == 0
        eventually(lambda: all(completed(order_id) for order_id in order_ids), message="the orders to complete")
        assert event_bus.received(queue) == []
        expected = {event_id for order_id in order_ids for event_id in order_events(order_id)}
        assert Event.objects.filter(id__in=expected, bus_publish_at__isnull=False).count() == len(expected)
    finally:
        event_bus.proxy.restore()

    arrived = set()

    def every_event_arrived():
        arrived.update(message.properties["message_id"] for message in event_bus.received(queue))
        return arrived >= expected and not Event.objects.filter(bus_publish_at__isnull=False).exists()

    eventually(every_event_arrived, timeout=60, message=lambda: f"{len(expected - arrived)} events still missing")
    assert Event.objects.filter(bus_publish_attempts__gt=0).exists(), "published by the relay"


def test_a_warehouse_killed_mid_pick_ships_the_order_exactly_once_after_its_restart(
    event_bus, transactional_db, customer, pet
):
    processes = event_bus.processes
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    eventually(lambda: completed(order_id), message="the order to complete")

    warehouse = start_warehouse(processes, "warehouse-1")
    eventually(lambda: f"order {order_id}: picking" in warehouse.read_text(), message="the warehouse to pick")
    processes.kill("warehouse-1")  # SIGKILL, mid-pick (it picks for 3 s)
    assert Order.objects.get(id=order_id).status == OrderStatus.APPROVED

    warehouse = start_warehouse(processes, "warehouse-2")
    eventually(
        lambda: Order.objects.get(id=order_id).status == OrderStatus.SHIPPED, timeout=30, message="the order to ship"
    )
    eventually(lambda: f"order {order_id}: shipped" in warehouse.read_text(), message="the warehouse to say so")

    # Delivered again (as after a crash between shipping and acknowledging): acknowledged, not shipped twice.
    (completed_event,) = Event.objects.filter(subject=f"order/{order_id}", type="order.completed")
    with Connection(RABBITMQ) as connection:
        connection.Producer().publish(
            json.dumps(completed_event.envelope()),
            exchange=event_bus.exchange,
            routing_key="order.completed",
            content_type="application/json",
        )
    eventually(lambda: "not waiting to ship" in warehouse.read_text(), message="the redelivery to be acknowledged")
    assert Event.objects.filter(subject=f"order/{order_id}", type="order.shipped").count() == 1
    assert Order.objects.get(id=order_id).status == OrderStatus.SHIPPED
    processes.running["warehouse-2"].send_signal(signal.SIGTERM)
    processes.running["warehouse-2"].wait(timeout=10)
    assert Queue(event_bus.warehouse_queue)(event_bus.channel).queue_declare(passive=True).message_count == 0


def start_warehouse(processes: Processes, name: str):
    processes.spawn(name, [PYTHON, "-u", "manage.py", "run_warehouse"])
    log = processes.log(name)
    eventually(lambda: log.exists() and "Warehouse ready" in log.read_text(), message=f"{name} to start ({log})")
    return log


def test_consume_events_prints_the_events_of_its_patterns(event_bus, transactional_db, customer, pet):
    consumer = event_bus.processes.spawn(
        "consume-events", [PYTHON, "-u", "manage.py", "consume_events", "order.created"]
    )
    log = event_bus.processes.log("consume-events")
    eventually(lambda: "Ready." in log.read_text(), message="consume_events to start")

    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]

    (created,) = Event.objects.filter(subject=f"order/{order_id}", type="order.created")
    eventually(lambda: str(created.id) in log.read_text(), message="order.created to be printed")
    eventually(lambda: completed(order_id), message="the order to complete")
    consumer.send_signal(signal.SIGTERM)
    consumer.wait(timeout=10)
    assert "order.status_changed" not in log.read_text()
