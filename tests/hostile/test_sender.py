"""Fair shares in one process's sender: one owner's slow endpoints hold only their share of the
threads, and another owner's requests go out at once."""

import threading
import time
import uuid
from types import SimpleNamespace

from tests.conftest import eventually
from tests.hostile import receivers
from tests.hostile.receivers import Connection
from webhooks.pipeline.inflight import Request, Sender


class Counting:
    """Wraps a behaviour, counting the connections it holds at once across every receiver."""

    def __init__(self, behaviour):
        self.behaviour, self.now, self.most, self.lock = behaviour, 0, 0, threading.Lock()

    def __call__(self, connection: Connection) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            self.behaviour(connection)
        finally:
            with self.lock:
                self.now -= 1


def requests(url: str, count: int, *, owner_id: int, number: int = 0) -> list[Request]:
    endpoint_id = uuid.uuid4()
    return [
        Request(
            endpoint_id=endpoint_id,
            owner_id=owner_id,
            url=url,
            body=b"{}",
            headers={},
            delivery=SimpleNamespace(number=number + n),
        )
        for n in range(count)
    ]


def test_one_owners_trickling_endpoints_hold_only_its_share_and_others_get_through(hostile, timeout):
    trickle = Counting(receivers.trickle_body)
    results: list = []
    sender = Sender(record=results.extend, concurrency=8, per_endpoint=2, per_owner=4, stuck_after=0.5, max_wait=30)
    hostile_requests = [
        request
        for number in range(6)
        for request in requests(hostile(trickle).url(), 2, owner_id=1, number=number * 10)
    ]
    assert sender.submit(hostile_requests) == []  # in flight or in line: their receivers did not hang yet
    time.sleep(0.3)

    started = time.monotonic()
    assert sender.submit(requests(hostile(receivers.body(b"fine")).url(), 3, owner_id=2, number=100)) == []
    eventually(
        lambda: sum(result.request.owner_id == 2 for result in results) == 3,
        timeout=1,
        message="the other owner's requests, sent while the first owner's share trickles",
    )
    assert time.monotonic() - started < 1
    assert trickle.most == 4

    sender.close()
    numbers = sorted(result.request.delivery.number for result in results)
    assert numbers == [*sorted(request.delivery.number for request in hostile_requests), 100, 101, 102]


def test_an_owner_whose_whole_share_hangs_gets_no_line(hostile, timeout):
    results: list = []
    sender = Sender(record=results.extend, concurrency=8, per_endpoint=2, per_owner=2, stuck_after=0.3, max_wait=30)
    sender.submit(requests(hostile(receivers.hang_after_headers).url(), 2, owner_id=1))
    time.sleep(0.6)  # longer than stuck_after: both slots out to the receiver, none back

    refused = sender.submit(requests(hostile(receivers.body(b"fine")).url(), 3, owner_id=1))

    assert len(refused) == 3  # handed back, to be tried later, rather than waiting behind the hang
    sender.close()


def test_one_slow_answer_among_quick_ones_is_not_a_stuck_endpoint(hostile, timeout):
    """An endpoint is stuck when none of its requests comes back for a while, not when one does
    not: a healthy receiver's one slow answer must not hand its next deliveries back for a later
    attempt (WEBHOOK_TIMEOUT later), as it did when the oldest request in flight decided."""
    connections = []

    def first_hangs(connection: Connection) -> None:
        connections.append(connection)
        (receivers.hang_after_headers if len(connections) == 1 else receivers.body(b"fine"))(connection)

    results: list = []
    sender = Sender(record=results.extend, concurrency=8, per_endpoint=2, per_owner=4, stuck_after=0.3, max_wait=30)
    slow, *quick = requests(hostile(first_hangs).url(), 12, owner_id=1)
    assert sender.submit([slow]) == []
    time.sleep(0.6)  # the slow one has waited longer than stuck_after; the endpoint's other slot is free

    assert sender.submit(quick) == []  # one in the free slot, the others lined up behind it: none handed back

    eventually(lambda: len(results) == len(quick), timeout=5, message="the quick answers")
    assert all(result.response.status == 200 for result in results)

    *hanging, next_one = requests(hostile(receivers.hang_after_headers).url(), 3, owner_id=2)
    sender.submit(hanging)
    time.sleep(0.6)  # both slots out, none back
    assert sender.submit([next_one]) == [next_one]  # stuck: handed back
    sender.close()
