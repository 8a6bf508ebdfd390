"""Webhook subscriptions through the API."""

import pytest

from webhooks.models import Delivery, Endpoint
from webhooks.views import WebhookTestRateThrottle

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"  # tests allow local targets; nothing is sent in these tests


def create(who, **body):
    return who.client.post("/v1/webhooks", {"url": URL, "events": ["order.*"], **body}, format="json")


def test_the_secret_is_shown_on_creation_and_rotation_only(customer):
    created = create(customer, description="shop backend")
    assert created.status_code == 201
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert created["Location"].endswith(f"/v1/webhooks/{endpoint['id']}")
    assert "secret" not in customer.client.get(f"/v1/webhooks/{endpoint['id']}").json()
    assert "secret" not in customer.client.get("/v1/webhooks").json()["results"][0]

    rotated = customer.client.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()
    stored = Endpoint.objects.get(id=endpoint["id"])
    assert (stored.secret, stored.previous_secret) == (rotated["secret"], endpoint["secret"])


def test_an_endpoint_can_be_created_disabled(customer):
    created = create(customer, is_active=False)
    assert created.status_code == 201
    assert (created.json()["is_active"], created.json()["disabled_reason"]) == (False, "manual")


def test_update_and_delete(customer):
    endpoint_id = create(customer).json()["id"]
    changed = customer.client.patch(
        f"/v1/webhooks/{endpoint_id}", {"events": ["payment.*", "order.created"], "is_active": False}, format="json"
    ).json()
    assert (changed["events"], changed["is_active"], changed["disabled_reason"]) == (
        ["order.created", "payment.*"],
        False,
        "manual",
    )
    enabled = customer.client.patch(f"/v1/webhooks/{endpoint_id}", {"is_active": True}, format="json").json()
    assert (enabled["is_active"], enabled["disabled_reason"]) == (True, "")
    assert customer.client.delete(f"/v1/webhooks/{endpoint_id}").status_code == 204
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("events", [[], ["order.exploded"], ["nothing.*"], "order.*", ["*", 3]])
def test_unknown_event_types_are_refused(customer, events):
    response = create(customer, events=events)
    assert response.status_code == 400
    assert all(field.startswith("events") for field in response.json()["errors"])


def test_only_staff_may_receive_every_customers_events(customer, staff):
    assert create(customer, all_customers=True).status_code == 403
    assert create(staff, all_customers=True).status_code == 201


def test_another_customers_endpoint_is_404(make_customer):
    alice, bob = make_customer(), make_customer()
    endpoint_id = create(alice).json()["id"]
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/rotate-secret"),
        ("post", "/test"),
        ("get", "/deliveries"),
        ("post", "/recover"),
    ]:
        response = getattr(bob.client, method)(f"/v1/webhooks/{endpoint_id}{path}", {}, format="json")
        assert response.status_code == 404, (method, path)
    assert bob.client.get("/v1/webhooks").json()["results"] == []


def test_test_event_creates_one_delivery_for_that_endpoint_only(customer):
    first, second = create(customer).json(), create(customer).json()
    response = customer.client.post(f"/v1/webhooks/{first['id']}/test")
    assert response.status_code == 202
    assert response.json()["event_type"] == "webhook.test"
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [Endpoint.objects.get(id=first["id"]).id]
    assert second["id"] not in response.json().values()


def test_retry_of_another_endpoints_delivery_is_404(customer):
    first, second = create(customer).json(), create(customer).json()
    delivery_id = customer.client.post(f"/v1/webhooks/{first['id']}/test").json()["id"]
    assert customer.client.post(f"/v1/webhooks/{second['id']}/deliveries/{delivery_id}/retry").status_code == 404
    assert customer.client.post(f"/v1/webhooks/{first['id']}/deliveries/{delivery_id}/retry").status_code == 202


def test_recover_needs_a_time(customer):
    endpoint_id = create(customer).json()["id"]
    response = customer.client.post(f"/v1/webhooks/{endpoint_id}/recover", {"since": "yesterday"}, format="json")
    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_endpoints_per_user_are_capped(make_customer, settings):
    settings.MAX_WEBHOOK_ENDPOINTS_PER_USER = 3
    customer, other_customer = make_customer(), make_customer()
    assert [create(customer).status_code for _ in range(4)] == [201, 201, 201, 409]
    refused = create(customer)
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/too-many-endpoints"
    assert Endpoint.objects.filter(owner=customer.user).count() == 3
    assert create(other_customer).status_code == 201  # the cap is per user

    first = customer.client.get("/v1/webhooks").json()["results"][0]["id"]
    customer.client.patch(f"/v1/webhooks/{first}", {"is_active": False}, format="json")
    assert create(customer).status_code == 409  # disabled endpoints count: they can be enabled again
    assert customer.client.delete(f"/v1/webhooks/{first}").status_code == 204
    assert create(customer).status_code == 201


@pytest.mark.redis
def test_test_events_are_limited_per_user_with_a_problem_and_retry_after(make_customer, monkeypatch):
    monkeypatch.setitem(WebhookTestRateThrottle.THROTTLE_RATES, "webhook_test", "10/min")  # the default
    alice, bob = make_customer(), make_customer()
    endpoints = [
        alice.client.post("/v1/webhooks", {"url": f"http://127.0.0.1:9/{n}", "events": ["*"]}, format="json").json()
        for n in range(2)
    ]
    bobs = bob.client.post("/v1/webhooks", {"url": "http://127.0.0.1:9/bob", "events": ["*"]}, format="json").json()

    answers = [alice.client.post(f"/v1/webhooks/{endpoints[n % 2]['id']}/test").status_code for n in range(10)]
    limited = alice.client.post(f"/v1/webhooks/{endpoints[0]['id']}/test")

    assert answers == [202] * 10  # WEBHOOK_TEST_RATE_LIMIT: 10 a minute, over all the user's endpoints
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/problem+json"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert Delivery.objects.filter(endpoint__owner=alice.user).count() == 10
    assert bob.client.post(f"/v1/webhooks/{bobs['id']}/test").status_code == 202  # another user's own limit
    assert alice.client.get("/v1/webhooks").status_code == 200  # only the test is limited
