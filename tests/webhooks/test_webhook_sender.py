"""The in-process sender alone, against a real HTTP receiver on loopback."""

import threading
import time
import uuid
from types import SimpleNamespace

from werkzeug import Response

from tests.conftest import eventually
from webhooks.pipeline.inflight import Request, Sender


class SlowReceiver:
    """Answers after `seconds`, counting the requests it holds at once."""

    def __init__(self, seconds: float):
        self.seconds, self.now, self.most, self.lock = seconds, 0, 0, threading.Lock()

    def __call__(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return Response(status=204)


def requests_to(
    url: str, count: int, endpoint_id: uuid.UUID | None = None, owner_id: int | None = None
) -> list[Request]:
    endpoint_id = endpoint_id or uuid.uuid4()
    owner_id = owner_id or endpoint_id.int  # each endpoint an owner of its own unless told
    return [
        Request(
            endpoint_id=endpoint_id,
            owner_id=owner_id,
            url=url,
            body=b"{}",
            headers={},
            delivery=SimpleNamespace(number=number),
        )
        for number in range(count)
    ]


def new_sender(results: list, **options) -> Sender:
    settings = {"concurrency": 16, "per_endpoint": 2, "per_owner": 8, "stuck_after": 0.5, "max_wait": 30} | options
    return Sender(record=results.extend, **settings)


def test_an_endpoint_gets_at_most_its_slots_and_the_rest_queue_behind_them(receiver):
    slow = SlowReceiver(0.2)
    receiver.expect_request("/hook").respond_with_handler(slow)
    results = []
    sender = new_sender(results)

    assert sender.submit(requests_to(receiver.url_for("/hook"), 6)) == []

    eventually(lambda: len(results) == 6, message="all six sent")
    assert slow.most == 2
    assert {result.response.status for result in results} == {204}
    sender.close()


def test_a_stuck_endpoint_is_refused_and_others_still_go(receiver):
    receiver.expect_request("/stuck").respond_with_handler(SlowReceiver(2))
    receiver.expect_request("/fast").respond_with_data(status=204)
    results = []
    sender = new_sender(results)
    stuck = uuid.uuid4()
    sender.submit(requests_to(receiver.url_for("/stuck"), 2, stuck))
    time.sleep(0.7)  # longer than stuck_after

    refused = sender.submit(requests_to(receiver.url_for("/stuck"), 3, stuck))
    assert len(refused) == 3
    assert sender.submit(requests_to(receiver.url_for("/fast"), 3)) == []
    eventually(lambda: len(results) == 3, timeout=1.5, message="the fast endpoint served during the hang")
    sender.close()


def test_an_endpoint_waiting_for_a_free_thread_is_not_taken_for_stuck(receiver):
    receiver.expect_request("/slow").respond_with_handler(SlowReceiver(1))
    receiver.expect_request("/fast").respond_with_data(status=204)
    results = []
    sender = new_sender(results, concurrency=1, per_endpoint=1)
    sender.submit(requests_to(receiver.url_for("/slow"), 1))  # holds the only thread for a second
    fast = uuid.uuid4()
    sender.submit(requests_to(receiver.url_for("/fast"), 1, fast))  # waits for the thread, not for its receiver
    time.sleep(0.7)  # longer than stuck_after

    assert sender.submit(requests_to(receiver.url_for("/fast"), 1, fast)) == []
    eventually(lambda: len(results) == 3, message="all three sent")
    sender.close()


def test_closing_hands_back_what_waits_and_records_what_was_in_flight(receiver):
    receiver.expect_request("/hook").respond_with_handler(SlowReceiver(0.5))
    results = []
    sender = new_sender(results)
    sender.submit(requests_to(receiver.url_for("/hook"), 5))
    time.sleep(0.1)

    sender.close()

    sent = [result for result in results if result.response is not None]
    handed_back = [result for result in results if result.response is None]
    assert (len(sent), len(handed_back)) == (2, 3)
    assert sorted(result.request.delivery.number for result in results) == [0, 1, 2, 3, 4]


def test_a_request_waiting_longer_than_max_wait_is_handed_back(receiver):
    receiver.expect_request("/hook").respond_with_handler(SlowReceiver(0.6))
    results = []
    sender = new_sender(results, per_endpoint=1, max_wait=0.3)

    sender.submit(requests_to(receiver.url_for("/hook"), 3))

    eventually(lambda: len(results) == 3, message="every request sent or handed back")
    assert [result.response is not None for result in results].count(True) == 1
    sender.close()
