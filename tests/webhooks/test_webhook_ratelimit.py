"""Unit tests of per-endpoint rate limits (`webhooks.pipeline.ratelimit`): the slots Redis gives
out (real Redis, the suite's cache database) and the pacer that starts each request at its slot."""

import threading
import time
import uuid

import pytest

from webhooks.pipeline import ratelimit


def booked(endpoint_id) -> dict[str, int]:
    raw = ratelimit._redis().hgetall(f"petstore:webhook-rate:{endpoint_id}:booked")
    return {key.decode(): int(value) for key, value in raw.items()}


@pytest.mark.redis
def test_a_batch_takes_consecutive_slots_one_interval_apart_and_the_next_batch_queues_behind_it():
    endpoint = uuid.uuid4()
    assert ratelimit.reserve(endpoint_id=endpoint, rate=10, delivery_ids=["a", "b", "c"]) == [0, 0.1, 0.2]
    (wait,) = ratelimit.reserve(endpoint_id=endpoint, rate=10, delivery_ids=["d"])
    assert 0.2 < wait <= 0.3  # behind the first batch, less the time since


@pytest.mark.redis
def test_endpoints_have_slots_of_their_own():
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    ratelimit.reserve(endpoint_id=busy, rate=1, delivery_ids=["a", "b", "c"])
    assert ratelimit.reserve(endpoint_id=quiet, rate=1, delivery_ids=["d"]) == [0]


@pytest.mark.redis
def test_a_slot_beyond_the_horizon_is_booked_and_kept_when_its_delivery_comes_back():
    endpoint = uuid.uuid4()
    ids = [f"delivery-{n}" for n in range(8)]
    waits = ratelimit.reserve(endpoint_id=endpoint, rate=1, delivery_ids=ids)
    assert waits == [0, 1, 2, 3, 4, 5, 6, 7]
    assert set(booked(endpoint)) == {"delivery-6", "delivery-7"}  # more than HORIZON (5 s) ahead
    (again,) = ratelimit.reserve(endpoint_id=endpoint, rate=1, delivery_ids=["delivery-7"])
    assert 6.5 < again <= 7  # its own slot, not a new one at the end of the line
    (newcomer,) = ratelimit.reserve(endpoint_id=endpoint, rate=1, delivery_ids=["delivery-8"])
    assert 7.5 < newcomer <= 8  # the line did not move for the returning delivery


@pytest.mark.redis
def test_a_booked_slot_already_past_is_given_up_for_the_next_free_one():
    endpoint = uuid.uuid4()
    ratelimit.reserve(endpoint_id=endpoint, rate=1, delivery_ids=[f"delivery-{n}" for n in range(7)])
    ratelimit._redis().hset(f"petstore:webhook-rate:{endpoint}:booked", "delivery-6", 0)  # a worker was down
    (wait,) = ratelimit.reserve(endpoint_id=endpoint, rate=1, delivery_ids=["delivery-6"])
    assert 6.5 < wait <= 7  # behind the line, not at once
    assert set(booked(endpoint)) == {"delivery-6"}  # booked anew, beyond the horizon
    assert booked(endpoint)["delivery-6"] > 0


@pytest.mark.redis
def test_a_slot_within_the_horizon_is_not_booked():
    endpoint = uuid.uuid4()
    ratelimit.reserve(endpoint_id=endpoint, rate=2, delivery_ids=["a", "b", "c"])
    assert booked(endpoint) == {}


def test_the_pacer_starts_each_request_after_its_delay_in_order_of_time():
    started: list[tuple[float, str]] = []
    done = threading.Event()

    def start(requests):
        started.extend((time.monotonic(), request) for request in requests)
        if len(started) == 3:
            done.set()

    pacer = ratelimit.Pacer(start)
    try:
        began = time.monotonic()
        pacer.at([(0.3, "late"), (0.0, "now"), (0.15, "soon")])
        assert done.wait(5)
    finally:
        pacer.close()
    assert [request for _, request in started] == ["now", "soon", "late"]
    assert started[2][0] - began >= 0.3
    assert started[1][0] - began >= 0.15


def test_closing_the_pacer_hands_back_the_requests_still_waiting():
    started = []
    pacer = ratelimit.Pacer(started.extend)
    pacer.at([(60, "in a minute"), (30, "in half a minute")])
    assert sorted(pacer.close()) == ["in a minute", "in half a minute"]
    assert started == []
