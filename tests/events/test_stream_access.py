"""Access that ends ends the live stream too (contract §2): a revoked key, a deactivated user or a
user who lost staff has the streams it opened closed within 10 s, with no event recorded after
that moment sent on them; and the streams of a process share its threads and Redis connections,
up to a cap for the process. Against gunicorn + uvicorn on loopback, as the run command serves it."""

import subprocess
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis
import requests
from django.conf import settings
from httpx_sse import connect_sse

from accounts.models import ApiKey
from accounts.services import hash_key, issue_api_key
from events.stream import live as stream
from events.stream import slots as stream_slots
from inventory.services import create_pet
from tests.conftest import eventually, order_body
from tests.events.test_event_stream import (
    _reader,
    next_event_of,
    order_of,
    start_server,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACCESS_ENDS_WITHIN = 10  # seconds, the contract's


@pytest.fixture
def pet(transactional_db):
    return create_pet(name="Rex", species="dog", price=Decimal("10.00"), stock=1000, low_stock_threshold=0)


@pytest.fixture(scope="module")
def web(worker_env, tmp_path_factory):
    processes, url = start_server(worker_env, tmp_path_factory.mktemp("stream-access-web"))
    yield url
    processes.stop_all()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def place_order(web, key: str, product) -> str:
    response = requests.post(f"{web}/v1/orders", json=order_body(product), headers=bearer(key), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def until_seen(events, order_id: str) -> None:
    deadline = time.monotonic() + 10
    while order_of(next_event_of(events, "order.created", within=deadline - time.monotonic())) != order_id:
        pass


def rest_of_stream(events) -> list:
    """Every event until the server ends the stream, which must be within the contract's time."""
    return _reader.submit(list, events).result(timeout=ACCESS_ENDS_WITHIN)


def test_a_revoked_key_s_stream_ends_within_10_s_and_sends_nothing_recorded_after(web, customer, pet):
    other_key = issue_api_key(user=customer.user)
    revoked = ApiKey.objects.get(key_hash=hash_key(customer.key))
    with (
        httpx.Client(base_url=web, timeout=10) as client,
        connect_sse(client, "GET", "/v1/events/stream", headers=bearer(customer.key)) as doomed,
        connect_sse(client, "GET", "/v1/events/stream", headers=bearer(other_key)) as kept,
    ):
        doomed_events, kept_events = doomed.iter_sse(), kept.iter_sse()
        before = place_order(web, customer.key, pet)
        until_seen(doomed_events, before)

        assert client.delete(f"/v1/auth/tokens/{revoked.id}", headers=bearer(other_key)).status_code == 204
        revoked_at = time.monotonic()
        after = place_order(web, other_key, pet)

        rest = rest_of_stream(doomed_events)
        assert time.monotonic() - revoked_at < ACCESS_ENDS_WITHIN
        assert not [sse for sse in rest if after in sse.data]
        until_seen(kept_events, after)  # the key that was not revoked streams on


@pytest.mark.parametrize("change", ["deactivated", "no longer staff"])
def test_a_staff_stream_ends_when_its_user_is_deactivated_or_loses_staff(web, make_customer, pet, change):
    staff, alice = make_customer(staff=True), make_customer()
    with (
        httpx.Client(base_url=web, timeout=10) as client,
        connect_sse(client, "GET", "/v1/events/stream", headers=bearer(staff.key)) as everyone_s,
    ):
        events = everyone_s.iter_sse()
        before = place_order(web, alice.key, pet)
        until_seen(events, before)  # another customer's order: staff see every customer's events

        if change == "deactivated":
            staff.user.is_active = False
        else:
            staff.user.is_staff = False
        staff.user.save()
        changed_at = time.monotonic()
        after = place_order(web, alice.key, pet)

        rest = rest_of_stream(events)
        assert time.monotonic() - changed_at < ACCESS_ENDS_WITHIN
        assert not [sse for sse in rest if after in sse.data]


def test_streams_share_the_process_s_threads_and_redis_connections_up_to_its_cap(worker_env, tmp_path, make_customer):
    cap = 20
    processes, web = start_server(
        worker_env, tmp_path, MAX_EVENT_STREAMS_PER_PROCESS=str(cap), EVENT_STREAM_SLOT_TTL="3"
    )
    (worker_pid,) = subprocess.run(
        ["pgrep", "-P", str(processes.running["web"].pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    cache = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    cache_db = cache.connection_pool.connection_kwargs.get("db", 0)

    def held() -> tuple[int, int, int]:
        """The web process's threads and descriptors, and the cache's Redis connections."""
        status = Path(f"/proc/{worker_pid}/status").read_text()
        threads = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))
        descriptors = len(list(Path(f"/proc/{worker_pid}/fd").iterdir()))
        connections = sum(1 for client in cache.client_list() if int(client["db"]) == cache_db)
        return threads, descriptors, connections

    def open_stream(customer):
        return requests.get(f"{web}/v1/events/stream", headers=bearer(customer.key), stream=True, timeout=10)

    customers = [make_customer() for _ in range(cap // settings.MAX_EVENT_STREAMS_PER_USER + 1)]
    streams = [open_stream(customers[0])]
    try:
        time.sleep(1.5)  # looks, heartbeats and a slot renewal (every EVENT_STREAM_SLOT_TTL / 3 s)
        threads, descriptors, connections = held()
        for customer in customers[:-1]:
            streams += [open_stream(customer) for _ in range(5 - (customer is customers[0]))]
        assert [response.status_code for response in streams] == [200] * cap
        time.sleep(1.5)
        more_threads, more_descriptors, more_connections = (
            now - then for now, then in zip(held(), (threads, descriptors, connections), strict=True)
        )
        assert more_threads <= stream.LOOK_THREADS  # not one per stream
        assert more_connections <= stream_slots.ASYNC_CONNECTIONS
        assert more_descriptors <= (cap - 1) + stream.LOOK_THREADS + stream_slots.ASYNC_CONNECTIONS  # a socket each

        refused = open_stream(customers[-1])  # a customer with no stream open: the process is full
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/stream-capacity-reached"
        assert int(refused.headers["Retry-After"]) >= 1

        streams.pop().close()
        streams.append(
            eventually(
                lambda: response if (response := open_stream(customers[-1])).ok else response.close(),
                timeout=10,
                message="room for a stream once one closed",
            )
        )
    finally:
        for response in streams:
            response.close()
        processes.stop_all()
