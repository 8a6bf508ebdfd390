"""Operational events (CONTRACT §5) end to end: a real worker and beat on real Redis, real HTTP
receivers on loopback, every delivery verified with the reference `standardwebhooks` library.

`endpoint.disabled`, `endpoint.enabled` and `delivery.exhausted` reach the owner's *other*
endpoints and staff `all_customers` endpoints, never the endpoint they are about, once per change.
"""

import time

import pytest

from events.models import Event
from tests.conftest import eventually
from tests.webhooks.test_webhook_delivery import received, subscribe
from webhooks.models import Delivery

pytestmark = pytest.mark.worker


def of_type(receiver, path, secret, type) -> list[dict]:
    return [envelope for envelope in received(receiver, path, secret) if envelope["type"] == type]


def test_a_410_disables_the_endpoint_and_the_owners_other_endpoint_and_staff_are_told(
    workers, customer, staff, receiver
):
    receiver.expect_request("/gone").respond_with_data(status=410)
    receiver.expect_request("/other").respond_with_data(status=204)
    receiver.expect_request("/staff").respond_with_data(status=204)
    gone = subscribe(customer, receiver, "/gone")
    other = subscribe(customer, receiver, "/other", events=["endpoint.*"])
    warehouse = subscribe(staff, receiver, "/staff", events=["endpoint.disabled"], all_customers=True)

    customer.client.post(f"/v1/webhooks/{gone['id']}/test")

    told = eventually(
        lambda: of_type(receiver, "/other", other["secret"], "endpoint.disabled"), message="the other endpoint told"
    )
    redacted = gone["url"].removesuffix("/gone") + "/…"
    assert told[0]["data"] == {"endpoint": {"id": gone["id"], "url": redacted, "disabled_reason": "gone"}}
    eventually(
        lambda: of_type(receiver, "/staff", warehouse["secret"], "endpoint.disabled"), message="staff endpoint told"
    )
    time.sleep(1)  # anything wrongly sent would have arrived by now
    assert [envelope["type"] for envelope in received(receiver, "/gone", gone["secret"])] == ["webhook.test"]
    assert len(received(receiver, "/other", other["secret"])) == 1
    (event,) = Event.objects.filter(type="endpoint.disabled")
    assert (event.subject, event.owner_id) == (f"endpoint/{gone['id']}", customer.user.id)


def test_an_exhausted_delivery_is_told_to_the_other_endpoints_not_to_its_own(workers, customer, staff, receiver):
    receiver.expect_request("/down").respond_with_data("no", status=503)
    receiver.expect_request("/other").respond_with_data(status=204)
    receiver.expect_request("/staff").respond_with_data(status=204)
    down = subscribe(customer, receiver, "/down")  # ["*"]: subscribed to its own operational events too
    other = subscribe(customer, receiver, "/other", events=["delivery.exhausted"])
    warehouse = subscribe(staff, receiver, "/staff", all_customers=True)

    test_delivery = customer.client.post(f"/v1/webhooks/{down['id']}/test").json()

    told = eventually(
        lambda: of_type(receiver, "/other", other["secret"], "delivery.exhausted"),
        timeout=40,
        message="delivery.exhausted at the other endpoint",
    )
    assert told[0]["data"] == {
        "delivery": {
            "id": test_delivery["id"],
            "endpoint_id": down["id"],
            "event_id": test_delivery["event_id"],
            "event_type": "webhook.test",
            "attempts": 3,  # the first try and the test schedule's two retries
        }
    }
    assert Delivery.objects.get(id=test_delivery["id"]).status == "failed"
    eventually(
        lambda: of_type(receiver, "/staff", warehouse["secret"], "delivery.exhausted"), message="staff endpoint told"
    )
    time.sleep(1)
    assert {envelope["type"] for envelope in received(receiver, "/down", down["secret"])} == {"webhook.test"}
    assert Event.objects.filter(type="delivery.exhausted").count() == 1


@pytest.mark.slow
def test_two_failing_endpoints_do_not_feed_each_other_exhausted_deliveries(workers, customer, receiver):
    receiver.expect_request("/a").respond_with_data(status=500)
    receiver.expect_request("/b").respond_with_data(status=500)
    a = subscribe(customer, receiver, "/a")
    b = subscribe(customer, receiver, "/b")

    customer.client.post(f"/v1/webhooks/{a['id']}/test")

    # a's test delivery is exhausted and b is told; b fails that delivery too, and it stops there
    told_b = Delivery.objects.filter(endpoint_id=b["id"], event__type="delivery.exhausted")
    eventually(lambda: told_b.filter(status="failed").exists(), timeout=60, message="b's notice to be exhausted")
    time.sleep(4)  # a chain would have its next notice, and its first attempt, by now
    assert Event.objects.filter(type="delivery.exhausted").count() == 1
    assert not Delivery.objects.filter(endpoint_id=a["id"], event__type="delivery.exhausted").exists()
    assert [envelope["type"] for envelope in received(receiver, "/b", b["secret"])] == ["delivery.exhausted"] * 3


def test_disabling_and_enabling_through_the_api_gives_one_event_per_change(workers, customer, staff, receiver):
    receiver.expect_request("/switched").respond_with_data(status=204)
    receiver.expect_request("/other").respond_with_data(status=204)
    receiver.expect_request("/staff").respond_with_data(status=204)
    switched = subscribe(customer, receiver, "/switched")
    other = subscribe(customer, receiver, "/other")
    warehouse = subscribe(staff, receiver, "/staff", events=["endpoint.*"], all_customers=True)
    url = f"/v1/webhooks/{switched['id']}"

    for active in (False, False, True, True):  # the second of each changes nothing
        assert customer.client.patch(url, {"is_active": active}, format="json").status_code == 200

    expected = [("endpoint.disabled", "manual"), ("endpoint.enabled", "")]
    for path, secret in (("/other", other["secret"]), ("/staff", warehouse["secret"])):
        eventually(lambda path=path, secret=secret: len(received(receiver, path, secret)) >= 2, message=path)
    time.sleep(1)
    for path, secret in (("/other", other["secret"]), ("/staff", warehouse["secret"])):
        envelopes = sorted(received(receiver, path, secret), key=lambda envelope: envelope["timestamp"])
        assert [(env["type"], env["data"]["endpoint"]["disabled_reason"]) for env in envelopes] == expected
        assert {env["data"]["endpoint"]["id"] for env in envelopes} == {switched["id"]}
    assert received(receiver, "/switched", switched["secret"]) == []  # enabled again, never told of itself


@pytest.mark.django_db
def test_operational_events_carry_the_endpoints_url_without_its_path_and_query(customer):
    url = "http://127.0.0.1:9/hooks/s3cr3t-path?token=s3cr3t-query"
    endpoint = customer.client.post("/v1/webhooks", {"url": url, "events": ["*"]}, format="json").json()

    customer.client.patch(f"/v1/webhooks/{endpoint['id']}", {"is_active": False}, format="json")

    event = Event.objects.get(type="endpoint.disabled")
    assert event.data["endpoint"]["url"] == "http://127.0.0.1:9/…"
    assert "s3cr3t" not in str(event.data)
