"""The live event stream, against the web server as the run command serves it (gunicorn with
uvicorn workers) on loopback, read by a real Server-Sent Events client (httpx-sse)."""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import redis
import requests
from django.conf import settings
from httpx_sse import connect_sse

from events.models import Event
from events.outbox import wakeup
from events.stream import slots as stream_slots
from harness import Processes
from harness.processes import free_port
from inventory.services import create_pet
from tests.conftest import eventually, order_body

# The server process must see what the tests write: committed, not rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

STREAM_SETTINGS = {
    "EVENT_STREAM_HEARTBEAT": "1",
    "EVENT_STREAM_SEND_TIMEOUT": "2",
    "MAX_EVENT_STREAMS_PER_USER": "5",
    "API_RATE_LIMIT": "100000/min",
}


def start_server(worker_env, logs, **extra) -> tuple[Processes, str]:
    processes = Processes(env={**worker_env, **STREAM_SETTINGS, **extra}, logs=logs)
    # One process with two threads for the API: open streams must not take any of them.
    return processes, processes.start_web(port=free_port(), workers=1, threads=2)


@pytest.fixture(scope="module")
def web(worker_env, tmp_path_factory):
    processes, url = start_server(worker_env, tmp_path_factory.mktemp("stream-web"))
    yield url
    processes.stop_all()


@pytest.fixture
def pet(transactional_db):
    return create_pet(name="Rex", species="dog", price=Decimal("10.00"), stock=1000, low_stock_threshold=0)


def auth(customer) -> dict:
    return {"Authorization": f"Bearer {customer.key}"}


def place_order(web, customer, pet) -> str:
    response = requests.post(f"{web}/v1/orders", json=order_body(pet), headers=auth(customer), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


_reader = ThreadPoolExecutor(4)


def next_event(events, within: float = 10):
    """The next event of an `iter_sse()` iterator; heartbeats keep the connection busy, so the
    client's read timeout alone would never fire."""
    return _reader.submit(next, events).result(timeout=within)


def next_event_of(events, type: str, within: float = 10):
    """The next event of that type: a stream opened without a position may begin with events
    committed just before it opened (PostgreSQL: while an older transaction was still open)."""
    deadline = time.monotonic() + within
    while (sse := next_event(events, within=deadline - time.monotonic())).event != type:
        pass
    return sse


def order_of(sse) -> str:
    return json.loads(sse.data)["data"]["order"]["id"]


@pytest.mark.sqlite_too
def test_a_stream_gets_events_live_and_resumes_after_a_disconnect_with_exactly_the_missed_ones(web, customer, pet):
    # Orders' created events alone: a worker this process started for an earlier test may be paying them.
    stream = "/v1/events/stream?types=order.created"
    with httpx.Client(base_url=web, headers=auth(customer), timeout=10) as client:
        with connect_sse(client, "GET", stream) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            events = source.iter_sse()
            first_order = place_order(web, customer, pet)
            seen = next_event(events)
            assert (seen.event, order_of(seen)) == ("order.created", first_order)
            envelope = json.loads(seen.data)
            assert envelope["id"] == seen.id and envelope["type"] == "order.created"

        missed_orders = [place_order(web, customer, pet) for _ in range(3)]

        with connect_sse(client, "GET", stream, headers={"Last-Event-ID": seen.id}) as source:
            events = source.iter_sse()
            caught_up = [next_event(events) for _ in range(3)]
            assert [order_of(sse) for sse in caught_up] == missed_orders
            expected = list(
                Event.objects.filter(owner=customer.user, type="order.created").exclude(id=seen.id).order_by("id")
            )
            assert [sse.id for sse in caught_up] == [str(event.id) for event in expected]
            live_order = place_order(web, customer, pet)
            assert order_of(next_event(events)) == live_order  # live again, nothing repeated

        with connect_sse(client, "GET", f"{stream}&after={caught_up[1].id}") as source:
            events = source.iter_sse()
            assert [order_of(next_event(events)) for _ in range(2)] == [missed_orders[2], live_order]


def test_an_idle_stream_sends_heartbeats(web, customer):
    with (
        httpx.Client(base_url=web, headers=auth(customer), timeout=10) as client,
        client.stream("GET", "/v1/events/stream") as response,
    ):
        lines = response.iter_lines()
        started = time.monotonic()
        assert _reader.submit(lambda: [next(lines) for _ in range(4)]).result(timeout=5)[2] == ": heartbeat"
        assert time.monotonic() - started < 3  # EVENT_STREAM_HEARTBEAT is 1 s here


def test_types_filter_and_staff_see_every_customers_events(web, customer, staff, pet):
    with (
        httpx.Client(base_url=web, headers=auth(staff), timeout=10) as client,
        connect_sse(client, "GET", "/v1/events/stream") as everything,
        connect_sse(client, "GET", "/v1/events/stream?types=inventory.*") as inventory,
    ):
        order = place_order(web, customer, pet)
        seen = next_event_of(everything.iter_sse(), "order.created")
        assert order_of(seen) == order
        restocked = client.post(f"/v1/pets/{pet.id}/restock", json={"quantity": 1})
        assert restocked.status_code == 200, restocked.text
        only = next_event(inventory.iter_sse())  # the order's event was left out
        assert (only.event, json.loads(only.data)["data"]["pet"]["id"]) == ("inventory.updated", str(pet.id))


def test_a_customer_does_not_see_another_customers_events(web, make_customer, pet):
    alice, bob = make_customer(), make_customer()
    with (
        httpx.Client(base_url=web, headers=auth(bob), timeout=10) as client,
        connect_sse(client, "GET", "/v1/events/stream") as source,
    ):
        events = source.iter_sse()
        place_order(web, alice, pet)
        bobs = place_order(web, bob, pet)
        assert order_of(next_event(events)) == bobs


def test_resuming_after_someone_elses_event_is_a_404(web, make_customer, pet):
    alice, bob = make_customer(), make_customer()
    place_order(web, alice, pet)
    foreign = Event.objects.filter(owner=alice.user).first()
    response = requests.get(
        f"{web}/v1/events/stream", headers={**auth(bob), "Last-Event-ID": str(foreign.id)}, timeout=10
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_open_streams_up_to_the_limit_do_not_block_api_requests_and_one_more_is_a_429(web, customer):
    streams = [
        requests.get(f"{web}/v1/events/stream", headers=auth(customer), stream=True, timeout=10) for _ in range(5)
    ]
    try:
        assert [stream.status_code for stream in streams] == [200] * 5
        for _ in range(20):  # with two API threads, streams that held a thread would block these
            started = time.monotonic()
            assert requests.get(f"{web}/v1/orders", headers=auth(customer), timeout=5).status_code == 200
            assert time.monotonic() - started < 2

        refused = requests.get(f"{web}/v1/events/stream", headers=auth(customer), timeout=10)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/too-many-event-streams"
        assert int(refused.headers["Retry-After"]) >= 1

        streams.pop().close()  # a stream that ends gives its slot back
        again = eventually(
            lambda: (
                response
                if (response := requests.get(f"{web}/v1/events/stream", headers=auth(customer), stream=True)).ok
                else response.close()
            ),
            timeout=10,
            message="a slot given back",
        )
        streams.append(again)
    finally:
        for stream in streams:
            stream.close()


def test_a_reader_that_stops_reading_is_disconnected(web, customer):
    slots = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's buffers fill
    host, port = web.removeprefix("http://").split(":")
    reader.connect((host, int(port)))
    reader.sendall(
        f"GET /v1/events/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {customer.key}\r\n\r\n".encode()
    )
    try:
        eventually(lambda: slots.zcard(stream_slots.key(customer.user.id)) == 1, message="the stream to open")
        endpoint_id = "01a21e2f-fc12-765a-8dee-4ba611df3c37"
        message = "x" * 4000
        Event.objects.bulk_create(
            Event(
                type="webhook.test",
                subject=f"endpoint/{endpoint_id}",
                owner=customer.user,
                sequence=number,
                data={"endpoint_id": endpoint_id, "message": message},
            )
            for number in range(1, 3001)  # 12 MB: more than every buffer between the server and the reader
        )
        wakeup.notify(owner_ids=[customer.user.id])

        # The server gives up on the reader and frees its slot, while the reader still reads nothing.
        eventually(
            lambda: slots.zcard(stream_slots.key(customer.user.id)) == 0, timeout=30, message="the slot to be freed"
        )
        reader.settimeout(10)
        received = 0
        while chunk := reader.recv(65536):  # what was buffered, then the end of the connection
            received += len(chunk)
        assert received < 3000 * 4000
    finally:
        reader.close()


@pytest.mark.postgres
def test_open_streams_hold_no_database_connection(worker_env, tmp_path, customer):
    """Without a pool, a connection a stream held while it waits would be a session of its own."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")
    processes, web = start_server(worker_env, tmp_path, DATABASE_POOL_SIZE="0", PGAPPNAME="stream-connections-test")
    streams = []
    try:
        for _ in range(5):
            streams.append(requests.get(f"{web}/v1/events/stream", headers=auth(customer), stream=True, timeout=10))
            assert streams[-1].status_code == 200
        time.sleep(2)  # a few looks and heartbeats

        def other_sessions() -> int:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stream-connections-test'"
                )
                return cursor.fetchone()[0]

        # A held connection would be a session at every moment; looks come and go (two may overlap,
        # and a closed session leaves pg_stat_activity a moment after its client).
        seen = []
        for _ in range(20):
            seen.append(other_sessions())
            time.sleep(0.1)
        assert min(seen) == 0, seen
    finally:
        for stream in streams:
            stream.close()
        processes.stop_all()
