"""Webhook delivery end to end: a real worker and beat on real Redis post to real HTTP receivers on
loopback; every signature is checked with the reference `standardwebhooks` library."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks import Webhook
from werkzeug import Response

from tests.conftest import eventually, order_body
from webhooks.models import Delivery, Endpoint
from webhooks.pipeline.sending import STUCK_AFTER

pytestmark = pytest.mark.worker


def subscribe(who, receiver, path="/hook", events=("*",), **extra) -> dict:
    response = who.client.post(
        "/v1/webhooks", {"url": receiver.url_for(path), "events": list(events), **extra}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def received(receiver, path, secret) -> list[dict]:
    """The verified envelopes that reached `path`, in arrival order (raises on a bad signature)."""
    return [
        Webhook(secret).verify(request.get_data(), dict(request.headers))
        for request, _ in list(receiver.log)
        if request.path == path
    ]


def types_at(receiver, path, secret) -> set[str]:
    return {envelope["type"] for envelope in received(receiver, path, secret)}


def delivery_of(endpoint: dict) -> Delivery:
    return eventually(lambda: Delivery.objects.filter(endpoint_id=endpoint["id"]).first(), message="a delivery")


@pytest.mark.sqlite_too
def test_an_orders_events_arrive_signed_filtered_and_only_to_their_audience(workers, make_customer, receiver, pet):
    alice, bob, warehouse = make_customer(), make_customer(), make_customer(staff=True)
    receiver.expect_request("/alice").respond_with_data(status=204)
    receiver.expect_request("/bob").respond_with_data(status=204)
    receiver.expect_request("/warehouse").respond_with_data(status=204)
    alice_endpoint = subscribe(alice, receiver, "/alice", events=["order.*", "payment.succeeded"])
    bob_endpoint = subscribe(bob, receiver, "/bob")
    warehouse_endpoint = subscribe(warehouse, receiver, "/warehouse", all_customers=True)

    order_id = alice.client.post("/v1/orders", order_body(pet), format="json").json()["id"]

    expected = {"order.created", "order.status_changed", "payment.succeeded", "order.completed"}
    eventually(lambda: types_at(receiver, "/alice", alice_endpoint["secret"]) >= expected, message="alice's events")
    eventually(
        lambda: "inventory.updated" in types_at(receiver, "/warehouse", warehouse_endpoint["secret"]),
        message="the warehouse's events",
    )
    time.sleep(1)  # anything wrongly sent would have arrived by now

    alice_events = received(receiver, "/alice", alice_endpoint["secret"])
    assert {event["type"] for event in alice_events} == expected  # no inventory.* for the customer
    assert all(event["data"]["order"]["id"] == order_id for event in alice_events)
    assert types_at(receiver, "/warehouse", warehouse_endpoint["secret"]) >= expected | {"inventory.updated"}
    assert received(receiver, "/bob", bob_endpoint["secret"]) == []
    request = next(request for request, _ in receiver.log if request.path == "/alice")
    assert request.headers["User-Agent"].startswith("PetstoreEvents-Webhooks/")
    assert request.headers["Content-Type"] == "application/json"
    created = next(event for event in alice_events if event["type"] == "order.created")
    assert request.headers["webhook-id"] in {event["id"] for event in alice_events}
    assert set(created) == {"id", "type", "timestamp", "subject", "sequence", "data"}


def test_a_failed_attempt_is_retried_with_the_same_webhook_id(workers, customer, receiver):
    receiver.expect_oneshot_request("/hook").respond_with_data("down for a moment", status=500)
    receiver.expect_request("/hook").respond_with_data(status=204)
    endpoint = subscribe(customer, receiver)

    customer.client.post(f"/v1/webhooks/{endpoint['id']}/test")

    eventually(
        lambda: delivery_of(endpoint).status == "succeeded" and delivery_of(endpoint),
        timeout=30,
        message="the retry to succeed",
    )
    ids = [request.headers["webhook-id"] for request, _ in receiver.log]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert [event["type"] for event in received(receiver, "/hook", endpoint["secret"])] == ["webhook.test"] * 2
    listed = customer.client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["results"][0]
    assert listed["status"] == "succeeded"
    assert [attempt["response_status"] for attempt in listed["attempts"]] == [500, 204]
    assert listed["attempts"][0]["response_body"] == "down for a moment"


def test_exhausted_deliveries_fail_and_are_resent_by_recover_and_replay(workers, customer, receiver):
    receiver.expect_request("/hook").respond_with_data("no", status=503)
    endpoint = subscribe(customer, receiver)
    customer.client.post(f"/v1/webhooks/{endpoint['id']}/test")

    eventually(lambda: delivery_of(endpoint).status == "failed", timeout=40, message="the delivery to fail")
    delivery = delivery_of(endpoint)
    assert delivery.attempt_count == 3  # the first try and the test schedule's two retries
    listed = customer.client.get(f"/v1/webhooks/{endpoint['id']}/deliveries?status=failed").json()["results"]
    assert [item["id"] for item in listed] == [str(delivery.id)]

    receiver.clear()
    receiver.expect_request("/hook").respond_with_data(status=200)

    call_command("replay_webhooks", "--endpoint", endpoint["id"], "--dry-run")
    time.sleep(2)
    assert receiver.log == []

    since = (timezone.now() - timedelta(hours=1)).isoformat()
    recovered = customer.client.post(f"/v1/webhooks/{endpoint['id']}/recover", {"since": since}, format="json")
    assert recovered.json() == {"deliveries": 1}
    eventually(lambda: Delivery.objects.get(id=delivery.id).status == "succeeded", message="the recovery")

    call_command("replay_webhooks", "--endpoint", endpoint["id"], "--status", "succeeded")
    eventually(lambda: len(receiver.log) == 2, message="the replay")
    assert len(received(receiver, "/hook", endpoint["secret"])) == 2
    assert Delivery.objects.get(id=delivery.id).attempt_count == 5


def test_retry_after_is_honoured_but_never_beyond_the_schedules_longest_interval(workers, customer, receiver):
    # The tests' schedule is 1 s, 1 s: a receiver asking for three thousand years gets 1 s.
    slow_down = Response("slow down", 429, {"Retry-After": "99999999999999"})
    receiver.expect_oneshot_request("/hook").respond_with_response(slow_down)
    receiver.expect_request("/hook").respond_with_data(status=204)
    endpoint = subscribe(customer, receiver)
    customer.client.post(f"/v1/webhooks/{endpoint['id']}/test")

    eventually(lambda: delivery_of(endpoint).status == "succeeded", timeout=30, message="the delivery")
    first, second = delivery_of(endpoint).attempts.all()
    assert first.response_status == 429
    assert 0.9 <= (second.attempted_at - first.attempted_at).total_seconds() < 10


def test_410_gone_disables_the_endpoint_at_once(workers, customer, receiver):
    receiver.expect_request("/hook").respond_with_data(status=410)
    endpoint = subscribe(customer, receiver)
    customer.client.post(f"/v1/webhooks/{endpoint['id']}/test")

    eventually(lambda: delivery_of(endpoint).status == "failed", message="the delivery to fail")
    shown = customer.client.get(f"/v1/webhooks/{endpoint['id']}").json()
    assert (shown["is_active"], shown["disabled_reason"]) == (False, "gone")
    assert delivery_of(endpoint).attempt_count == 1


def test_redirects_are_not_followed(workers, customer, receiver):
    receiver.expect_request("/hook").respond_with_response(
        Response(status=302, headers={"Location": receiver.url_for("/elsewhere")})
    )
    receiver.expect_request("/elsewhere").respond_with_data(status=204)
    endpoint = subscribe(customer, receiver)
    customer.client.post(f"/v1/webhooks/{endpoint['id']}/test")

    eventually(lambda: delivery_of(endpoint).attempt_count >= 1, message="an attempt")
    assert delivery_of(endpoint).attempts.first().response_status == 302
    assert delivery_of(endpoint).status != "succeeded"
    assert [request.path for request, _ in receiver.log] == ["/hook"]


def test_after_rotation_both_secrets_verify_during_the_overlap(workers, customer, receiver):
    receiver.expect_request("/hook").respond_with_data(status=204)
    endpoint = subscribe(customer, receiver)
    rotated = customer.client.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()
    assert rotated["secret"] != endpoint["secret"]

    customer.client.post(f"/v1/webhooks/{endpoint['id']}/test")

    eventually(lambda: len(receiver.log) == 1, message="the test event")
    assert received(receiver, "/hook", endpoint["secret"])[0]["type"] == "webhook.test"
    assert received(receiver, "/hook", rotated["secret"])[0]["type"] == "webhook.test"
    assert len(receiver.log[0][0].headers["webhook-signature"].split(" ")) == 2


def test_a_hanging_endpoint_does_not_delay_another(workers, make_customer, receiver, settings):
    """More deliveries hang than the worker has threads: they hold the slow endpoint's few slots,
    the fast endpoint is served at once, and once the slow one counts as stuck its new deliveries
    wait for a later attempt instead of lining up."""
    slow_owner, fast_owner = make_customer(), make_customer()
    concurrent, most_concurrent, lock = 0, 0, threading.Lock()
    arrivals = []  # when each slow request reached the receiver

    def hang(request):
        nonlocal concurrent, most_concurrent
        with lock:
            concurrent += 1
            most_concurrent = max(most_concurrent, concurrent)
            arrivals.append(time.monotonic())
        time.sleep(5)  # past the test WEBHOOK_TIMEOUT of 3 s
        with lock:
            concurrent -= 1
        return Response(status=204)

    receiver.expect_request("/slow").respond_with_handler(hang)
    receiver.expect_request("/fast").respond_with_data(status=204)
    slow = subscribe(slow_owner, receiver, "/slow")
    fast = subscribe(fast_owner, receiver, "/fast")
    for _ in range(30):
        slow_owner.client.post(f"/v1/webhooks/{slow['id']}/test")
    eventually(lambda: concurrent == settings.WEBHOOK_ENDPOINT_CONCURRENCY, message="the slow endpoint's slots full")
    started = time.monotonic()
    fast_owner.client.post(f"/v1/webhooks/{fast['id']}/test")
    eventually(lambda: delivery_of(fast).status == "succeeded", timeout=10, message="the fast endpoint")

    assert time.monotonic() - started < 2.5, "a healthy endpoint waited for a hanging one"
    assert most_concurrent == settings.WEBHOOK_ENDPOINT_CONCURRENCY
    assert Endpoint.objects.get(id=slow["id"]).is_active

    # The endpoint counts as stuck from STUCK_AFTER after its oldest request went out until our
    # WEBHOOK_TIMEOUT ends it (3 s): the new deliveries must reach the worker inside that window, so
    # they are sent as soon as it opens, timed from the first slow request's arrival.
    time.sleep(max(0.0, min(arrivals) + STUCK_AFTER + 0.1 - time.monotonic()))
    new = {slow_owner.client.post(f"/v1/webhooks/{slow['id']}/test").json()["id"] for _ in range(5)}
    # Each is deferred (due again later, no attempt counted) as its worker refuses it, one batch
    # at a time under load, and comes due again WEBHOOK_TIMEOUT later: each is seen deferred once.
    deferred = Delivery.objects.filter(id__in=new, attempt_count=0, sending_until__isnull=True)
    seen = set()

    def all_seen_deferred() -> bool:
        now = timezone.now()
        seen.update(str(one) for one in deferred.filter(next_attempt_at__gt=now).values_list("id", flat=True))
        return seen == new

    eventually(all_seen_deferred, message="new deliveries to a stuck endpoint deferred, not lined up")
