"""Per-subject ordering and per-endpoint rate limits, end to end: two real Celery worker processes
and beat on real Redis (one worker, killed mid-line and replaced, for the ordering's survival),
real receivers on loopback verifying every signature with the `standardwebhooks` library."""

import itertools
import threading
import time
from dataclasses import dataclass, field

import pytest
import redis
from django.conf import settings
from standardwebhooks import Webhook
from werkzeug import Request, Response

from harness import Processes
from tests.conftest import eventually, order_body
from webhooks import services
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.worker


@pytest.fixture
def two_workers(worker_processes, worker_env, transactional_db, tmp_path) -> Processes:
    """Two worker processes (every queue) and beat, alone on the database and the broker."""
    worker_processes.stop()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    processes = Processes(env=worker_env, logs=tmp_path)
    processes.start_workers(2, loglevel="INFO", concurrency=4)
    processes.start_beat(loglevel="INFO")
    yield processes
    processes.stop_all()


@dataclass
class Arrival:
    at: float
    envelope: dict
    answered: int


@dataclass
class Recorder:
    """Verifies each delivery, answers what `answer` says, and keeps what arrived."""

    secret: str = ""
    answer: object = None  # envelope → status; 204 if None
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        envelope = Webhook(self.secret).verify(request.get_data(), dict(request.headers))
        status = self.answer(envelope) if self.answer else 204
        with self.lock:
            self.arrivals.append(Arrival(time.monotonic(), envelope, status))
        return Response(status=status)

    def succeeded(self, subject: str | None = None) -> list[Arrival]:
        with self.lock:
            return [
                arrival
                for arrival in self.arrivals
                if arrival.answered < 300 and subject in (None, arrival.envelope["subject"])
            ]


def test_an_orders_later_events_wait_for_its_failing_first_one_and_others_go_meanwhile(
    two_workers, customer, receiver, pet
):
    held = {"subject": None, "failures_left": 2}

    def answer(envelope):  # the first order.created to arrive fails twice, then succeeds
        if envelope["type"] == "order.created" and held["subject"] in (None, envelope["subject"]):
            held["subject"] = envelope["subject"]
            if held["failures_left"]:
                held["failures_left"] -= 1
                return 500
        return 204

    recorder = Recorder(answer=answer)
    receiver.expect_request("/hook").respond_with_handler(recorder)
    endpoint = customer.client.post(
        "/v1/webhooks",
        {"url": receiver.url_for("/hook"), "events": ["order.*", "payment.*"], "ordering": "per_subject"},
        format="json",
    ).json()
    assert endpoint["ordering"] == "per_subject"
    recorder.secret = endpoint["secret"]

    orders = [customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"] for _ in range(2)]

    for order_id in orders:  # order.created, status_changed, payment.succeeded, order.completed
        subject = f"order/{order_id}"
        eventually(lambda s=subject: len(recorder.succeeded(s)) >= 4, timeout=40, message="every event")
    time.sleep(1)  # anything sent out of turn would have arrived by now
    first_subject = held["subject"]
    (second_subject,) = {f"order/{order_id}" for order_id in orders} - {first_subject}

    firsts = recorder.succeeded(first_subject)
    assert [arrival.envelope["sequence"] for arrival in firsts] == list(range(1, len(firsts) + 1))
    assert firsts[0].envelope["type"] == "order.created"
    tries = [arrival for arrival in recorder.arrivals if arrival.envelope["subject"] == first_subject]
    assert [arrival.answered for arrival in tries[:3]] == [500, 500, 204]  # nothing else came in between
    # The others went as soon as the first one succeeded, not on its backoff nor the 2 s sweep.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(firsts)]
    assert max(gaps) < 1.5, gaps
    # The other order was not held up meanwhile.
    seconds = recorder.succeeded(second_subject)
    assert [arrival.envelope["sequence"] for arrival in seconds] == list(range(1, len(seconds) + 1))
    assert sum(arrival.at < firsts[0].at for arrival in seconds) >= 2
    deliveries = Delivery.objects.filter(endpoint_id=endpoint["id"])
    assert {(d.status, d.subject) for d in deliveries} == {("succeeded", first_subject), ("succeeded", second_subject)}


RATE, WINDOW = 5, 20.0


@pytest.mark.slow
def test_a_rate_limit_holds_across_two_worker_processes(two_workers, customer, receiver):
    recorder = Recorder()
    receiver.expect_request("/hook").respond_with_handler(recorder)
    endpoint = services.create_endpoint(
        owner=customer.user, url=receiver.url_for("/hook"), event_types=["*"], rate_limit=RATE
    )
    recorder.secret = endpoint.secret
    unlimited = services.create_endpoint(owner=customer.user, url=receiver.url_for("/free"), event_types=["*"])
    receiver.expect_request("/free").respond_with_data(status=204)

    backlog = int(RATE * WINDOW * 1.5)
    for _ in range(backlog):  # each queued on its own: the two workers share them
        services.send_test_event(endpoint=endpoint)
    for _ in range(20):
        services.send_test_event(endpoint=unlimited)

    eventually(lambda: len(recorder.arrivals) > RATE * WINDOW * 1.2, timeout=WINDOW * 2, message="a window's worth")
    times = sorted(arrival.at for arrival in recorder.arrivals)
    in_window = sum(times[0] <= at < times[0] + WINDOW for at in times)
    print(f"rate limit {RATE}/s: {in_window} deliveries in {WINDOW:.0f} s")
    assert RATE * WINDOW * 0.9 <= in_window <= RATE * WINDOW * 1.1
    assert all(arrival.answered == 204 for arrival in recorder.arrivals)
    # Waiting is neither a failure nor an attempt: each delivery sent so far was attempted once.
    sent = Delivery.objects.filter(endpoint=endpoint, status="succeeded")
    assert set(sent.values_list("attempt_count", flat=True)) == {1}
    assert not Delivery.objects.filter(endpoint=endpoint, status="failed").exists()
    # Both worker processes sent to it, and the unlimited endpoint did not wait behind it.
    logs = [two_workers.log(name).read_text() for name in two_workers.workers]
    assert all(f"endpoint {endpoint.id}" in log for log in logs)
    assert Delivery.objects.filter(endpoint=unlimited, status="succeeded").count() == 20
    assert Endpoint.objects.get(id=endpoint.id).rate_limit == RATE


@pytest.fixture
def one_worker(worker_processes, worker_env, transactional_db, tmp_path) -> Processes:
    """One worker process (every queue) and beat, alone on the database and the broker, with a
    long retry schedule (a held event keeps its line for as long as the test needs) and a short
    queue lease (a send task lost with a killed worker is queued again within seconds)."""
    worker_processes.stop()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    env = {**worker_env, "WEBHOOK_RETRY_SCHEDULE": ",".join(["1"] * 20), "WEBHOOK_REQUEUE_AFTER": "3"}
    processes = Processes(env=env, logs=tmp_path)
    processes.start_workers(loglevel="INFO", concurrency=4)
    processes.start_beat(loglevel="INFO")
    yield processes
    processes.stop_all()


def test_a_worker_killed_in_the_middle_of_a_subjects_line_leaves_its_order_intact(one_worker, customer, receiver, pet):
    held = {"failing": True}  # the order's second event fails until the killed worker is replaced
    recorder = Recorder(answer=lambda envelope: 500 if envelope["sequence"] == 2 and held["failing"] else 204)
    receiver.expect_request("/hook").respond_with_handler(recorder)
    endpoint = customer.client.post(
        "/v1/webhooks",
        {"url": receiver.url_for("/hook"), "events": ["order.*", "payment.*"], "ordering": "per_subject"},
        format="json",
    ).json()
    recorder.secret = endpoint["secret"]
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    subject = f"order/{order_id}"
    line = Delivery.objects.filter(endpoint_id=endpoint["id"], subject=subject)

    def mid_line() -> bool:  # the first sent, the second failed and waiting for its retry, two behind it
        by_sequence = {delivery.sequence: delivery for delivery in line.all()}
        second = by_sequence.get(2)
        return (
            len(by_sequence) == 4
            and by_sequence[1].status == "succeeded"
            and second.attempt_count >= 1
            and second.sending_until is None
        )

    eventually(mid_line, timeout=20, message="the line held at its second event")
    (worker,) = one_worker.workers
    one_worker.kill(worker)  # SIGKILL
    assert {delivery.sequence for delivery in line.filter(status="pending")} == {2, 3, 4}
    one_worker.start_workers(loglevel="INFO", concurrency=4)
    held["failing"] = False

    eventually(lambda: len(recorder.succeeded(subject)) >= 4, timeout=25, message="the whole line")
    time.sleep(0.5)  # anything sent twice or out of turn would have arrived by now
    sequences = [arrival.envelope["sequence"] for arrival in recorder.succeeded(subject)]
    assert sequences[:4] == [1, 2, 3, 4]
    assert sorted(set(sequences)) == [1, 2, 3, 4]  # a repeat (at-least-once) never goes back in the line
    assert sequences == sorted(sequences)
    assert set(line.values_list("status", flat=True)) == {"succeeded"}
