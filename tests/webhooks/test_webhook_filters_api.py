"""Subscription filters through the API, the services, the fan-out and the admin: saved only
when valid for the subscribed types (a 400 naming the path otherwise), tested with filter-test,
and applied in the fan-out with no delivery for an event that does not match and no query for
it; end to end, a real worker delivers the matching events signed and nothing else."""

import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from standardwebhooks import Webhook

from events.models import Event
from inventory.services import create_pet
from orders.events import OrderEvent
from orders.services import place_order
from tests.conftest import eventually, order_body
from webhooks import filters, services
from webhooks.models import Delivery, Endpoint
from webhooks.pipeline import fanout, subscribers

URL = "http://127.0.0.1:9/hook"  # nothing is sent in the tests that use it
BIG_ORDERS = {"data.order.total": {"$gte": "200.00"}}


def create(who, **body):
    return who.client.post("/v1/webhooks", {"url": URL, "events": ["order.*"], **body}, format="json")


# --- Saving a filter ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_filter_is_saved_shown_changed_and_removed(customer):
    created = create(customer, filter=BIG_ORDERS)
    assert created.status_code == 201, created.json()
    endpoint_id = created.json()["id"]
    assert created.json()["filter"] == BIG_ORDERS
    assert customer.client.get(f"/v1/webhooks/{endpoint_id}").json()["filter"] == BIG_ORDERS

    either = {"$or": [{"type": "order.cancelled"}, {"data.order.items.0.quantity": {"$gt": 3}}]}
    changed = customer.client.patch(f"/v1/webhooks/{endpoint_id}", {"filter": either}, format="json")
    assert (changed.status_code, changed.json()["filter"]) == (200, either)
    assert Endpoint.objects.get(id=endpoint_id).filter == either

    removed = customer.client.patch(f"/v1/webhooks/{endpoint_id}", {"filter": None}, format="json")
    assert removed.json()["filter"] is None
    assert create(customer).json()["filter"] is None  # none unless asked for


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("events", "spec", "where", "says"),
    [
        (["order.*"], {"data.order.totl": {"$gt": 5}}, "filter.data.order.totl", "Unknown path 'data.order.totl'"),
        (["order.*"], {"type": {"$regex": "^order"}}, "filter.type.$regex", "Unknown operator '$regex'"),
        (["order.*"], {"$nor": [{"type": "order.created"}]}, "filter.$nor", "Unknown operator '$nor'"),
        (
            ["payment.*"],
            {"$or": [{"type": "payment.failed"}, {"data.new_status": "approved"}]},
            "filter.$or.1.data.new_status",  # order.status_changed has it, payment events do not
            "none of the subscribed event types (payment.failed, payment.refunded, payment.succeeded)",
        ),
        (
            ["order.created"],
            {"data.order.items.first.quantity": 1},
            "filter.data.order.items.first.quantity",
            "Unknown",
        ),
        (["order.*"], {"data.order": {"status": "placed"}}, "filter.data.order", "dotted path"),
        (["order.*"], "type == order.created", "filter", "JSON object"),
        (["order.*"], {"type": {"$in": ["order.created"] * 300}}, "filter", "larger than"),
        # PostgreSQL's jsonb cannot store a NUL: refused before the insert, not a 500 there
        (["order.*"], {"data.order.total": {"$eq": "\u0000"}}, "filter.data.order.total.$eq", "NUL"),
        (["order.*"], {"type": {"$in": ["order.created", "a\u0000"]}}, "filter.type.$in.1", "NUL"),
        (["order.*"], {"type\u0000": 1}, "filter.type\u0000", "NUL"),
    ],
)
def test_a_filter_that_cannot_work_is_a_400_naming_the_path(customer, events, spec, where, says):
    response = create(customer, events=events, filter=spec)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation-error"
    assert list(problem["errors"]) == [where]
    assert says in problem["errors"][where][0]
    assert not Endpoint.objects.exists()


@pytest.mark.django_db
def test_a_filter_nested_too_deep_is_a_400_at_the_level_too_many(customer):
    spec: dict = {"type": "order.created"}
    for _ in range(filters.MAX_DEPTH):
        spec = {"$not": spec}
    response = create(customer, filter=spec)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["filter" + ".$not" * filters.MAX_DEPTH]


@pytest.mark.django_db
def test_changing_the_event_types_under_a_filter_checks_it_again(customer):
    endpoint_id = create(customer, filter={"data.new_status": "approved"}).json()["id"]
    response = customer.client.patch(f"/v1/webhooks/{endpoint_id}", {"events": ["payment.*"]}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["filter.data.new_status"]
    assert Endpoint.objects.get(id=endpoint_id).event_types == ["order.*"]
    both = customer.client.patch(
        f"/v1/webhooks/{endpoint_id}",
        {"events": ["payment.*"], "filter": {"data.payment.status": "failed"}},
        format="json",
    )
    assert both.status_code == 200, both.json()


@pytest.mark.django_db
def test_the_portal_and_the_admin_check_a_filter_with_the_same_service(customer):
    assert services.filter_errors(filter=BIG_ORDERS, event_types=["order.created"]) == {}
    assert list(services.filter_errors(filter={"data.pet.stock": 1}, event_types=["order.created"])) == [
        "filter.data.pet.stock"
    ]
    assert services.filter_errors(filter={"data.pet.stock": 1}, event_types=["*"]) == {}  # inventory.* has it
    with pytest.raises(services.InvalidFilter) as raised:
        services.create_endpoint(
            owner=customer.user, url=URL, event_types=["payment.*"], filter={"data.new_status": "approved"}
        )
    assert list(raised.value.errors) == ["filter.data.new_status"]


# --- filter-test ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_filter_test_answers_for_an_envelope_or_one_of_your_events(customer, pet):
    endpoint_id = create(customer, filter=BIG_ORDERS).json()["id"]
    test = f"/v1/webhooks/{endpoint_id}/filter-test"
    big = {"type": "order.created", "data": {"order": {"total": "251.00"}}}
    small = {"type": "order.created", "data": {"order": {"total": "125.50"}}}
    assert customer.client.post(test, {"event": big}, format="json").json() == {"matches": True}
    assert customer.client.post(test, {"event": small}, format="json").json() == {"matches": False}

    order = place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 2}], payment={"method": "card", "token": "tok_visa"}
    ).order
    event = Event.objects.get(subject=f"order/{order.id}", type=OrderEvent.CREATED)
    assert order.total == Decimal("251.00")
    assert customer.client.post(test, {"event_id": str(event.id)}, format="json").json() == {"matches": True}

    for body in [{}, {"event": big, "event_id": str(event.id)}, {"event": "order.created"}, {"event_id": "x"}]:
        assert customer.client.post(test, body, format="json").status_code == 400, body

    unfiltered = create(customer).json()["id"]
    assert customer.client.post(f"/v1/webhooks/{unfiltered}/filter-test", {"event": small}, format="json").json() == {
        "matches": True
    }


@pytest.mark.django_db
def test_filter_test_on_another_customers_endpoint_or_event_is_404(make_customer, pet):
    alice, bob = make_customer(), make_customer()
    alice_endpoint = create(alice, filter=BIG_ORDERS).json()["id"]
    bob_endpoint = create(bob).json()["id"]
    order = place_order(
        user=alice.user, items=[{"pet_id": pet.id, "quantity": 1}], payment={"method": "card", "token": "tok_visa"}
    ).order
    alice_event = Event.objects.filter(subject=f"order/{order.id}").first()

    envelope = {"event": {"type": "order.created"}}
    assert bob.client.post(f"/v1/webhooks/{alice_endpoint}/filter-test", envelope, format="json").status_code == 404
    theirs = bob.client.post(
        f"/v1/webhooks/{bob_endpoint}/filter-test", {"event_id": str(alice_event.id)}, format="json"
    )
    assert theirs.status_code == 404
    assert theirs["Content-Type"] == "application/problem+json"


# --- The fan-out ----------------------------------------------------------------------------------


@pytest.fixture
def cheap_and_dear(db):
    return (
        create_pet(name="Goldie", species="fish", price=Decimal("9.99"), stock=50),
        create_pet(name="Rex", species="dog", price=Decimal("250.00"), stock=50),
    )


def order_events(user, pet, quantity=1) -> list[Event]:
    order = place_order(
        user=user, items=[{"pet_id": pet.id, "quantity": quantity}], payment={"method": "card", "token": "tok_visa"}
    ).order
    return list(Event.objects.filter(subject=f"order/{order.id}"))


@pytest.mark.django_db
def test_an_event_the_filter_refuses_gets_no_delivery(customer, cheap_and_dear):
    cheap, dear = cheap_and_dear
    filtered = services.create_endpoint(owner=customer.user, url=URL, event_types=["order.*"], filter=BIG_ORDERS)
    everything = services.create_endpoint(owner=customer.user, url=URL, event_types=["order.*"])
    events = [*order_events(customer.user, cheap), *order_events(customer.user, dear)]

    fanout.fan_out(events=events, send_here=False)

    assert Delivery.objects.filter(endpoint=everything).count() == len(events)
    delivered = Event.objects.filter(deliveries__endpoint=filtered)
    assert [event.data["order"]["total"] for event in delivered] == ["250.00"]


@pytest.mark.django_db
def test_filters_cost_the_fan_out_no_query_per_event(customer, cheap_and_dear):
    cheap, dear = cheap_and_dear
    for _ in range(5):
        services.create_endpoint(owner=customer.user, url=URL, event_types=["*"], filter=BIG_ORDERS)
    services.create_endpoint(owner=customer.user, url=URL, event_types=["*"], filter={"data.pet.stock": {"$lt": 10}})
    one = order_events(customer.user, dear)[:1]
    many = [*order_events(customer.user, cheap), *order_events(customer.user, dear), *order_events(customer.user, dear)]
    fanout.fan_out(events=order_events(customer.user, dear), send_here=False)  # the subscriptions are kept now

    with CaptureQueriesContext(connection) as for_one:
        fanout.fan_out(events=one, send_here=False)
    with CaptureQueriesContext(connection) as for_many:
        fanout.fan_out(events=many, send_here=False)
    assert len(for_many) == len(for_one)


@pytest.mark.django_db
def test_a_filter_stored_behind_the_validations_back_leaves_the_endpoint_out(customer, caplog):
    kept = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    broken = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    Endpoint.objects.filter(id=broken.id).update(filter={"type": {"$regex": "."}})
    assert [endpoint.id for endpoint in subscribers.endpoints_for([customer.user.id])] == [kept.id]
    assert f"endpoint {broken.id} left out of fan-outs: its filter is not valid" in caplog.text
    assert services.filter_matches(endpoint=Endpoint.objects.get(id=broken.id), envelope={"type": "x"}) is False


# --- The admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_edit_a_filter_in_the_admin_under_the_same_check(customer):
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    admin = Client()
    admin.login(username="boss", password="pw")
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["order.*"])
    page = f"/admin/webhooks/endpoint/{endpoint.id}/change/"
    assert 'name="filter"' in admin.get(page).content.decode()
    form = {
        "owner": customer.user.id,
        "url": URL,
        "description": "",
        "event_types": '["order.*"]',
        "ordering": "none",
        "rate_limit": "",
        "is_active": "on",
    }

    refused = admin.post(page, {**form, "filter": '{"data.order.totl": 1}'})
    assert refused.status_code == 200
    assert "filter.data.order.totl: Unknown path" in refused.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.filter is None

    saved = admin.post(page, {**form, "filter": '{"data.order.total": {"$gte": "200.00"}}'})
    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.filter == BIG_ORDERS


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["filter", "event_types"])
def test_json_nested_too_deep_in_the_admin_is_a_form_error_not_a_500(customer, field):
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    admin = Client(raise_request_exception=False)
    admin.login(username="boss", password="pw")
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["order.*"])
    page = f"/admin/webhooks/endpoint/{endpoint.id}/change/"
    form = {
        "owner": customer.user.id,
        "url": URL,
        "description": "",
        "event_types": '["order.*"]',
        "filter": "",
        "ordering": "none",
        "rate_limit": "",
        "is_active": "on",
    }

    refused = admin.post(page, {**form, field: "[" * 5_000 + "]" * 5_000})

    assert refused.status_code == 200
    assert "nested too deeply" in refused.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["order.*"] and endpoint.filter is None


# --- End to end -----------------------------------------------------------------------------------


def received(receiver, path, secret) -> list[dict]:
    return [
        Webhook(secret).verify(request.get_data(), dict(request.headers))
        for request, _ in list(receiver.log)
        if request.path == path
    ]


def test_only_matching_events_reach_a_filtered_endpoint_signed(workers, customer, receiver, cheap_and_dear):
    cheap, dear = cheap_and_dear
    receiver.expect_request("/big").respond_with_data(status=204)
    receiver.expect_request("/all").respond_with_data(status=204)
    big_orders = {"type": "order.created", "data.order.total": {"$gte": "200.00"}}
    filtered = customer.client.post(
        "/v1/webhooks",
        {"url": receiver.url_for("/big"), "events": ["order.*"], "filter": big_orders},
        format="json",
    ).json()
    everything = customer.client.post(
        "/v1/webhooks", {"url": receiver.url_for("/all"), "events": ["order.*"]}, format="json"
    ).json()

    cheap_order = customer.client.post("/v1/orders", order_body(cheap, quantity=2), format="json").json()
    dear_order = customer.client.post("/v1/orders", order_body(dear), format="json").json()

    def completed_at_all() -> set[str]:
        return {
            envelope["data"]["order"]["id"]
            for envelope in received(receiver, "/all", everything["secret"])
            if envelope["type"] == "order.completed"
        }

    eventually(lambda: completed_at_all() == {cheap_order["id"], dear_order["id"]}, message="both orders' events")
    time.sleep(1)  # anything wrongly sent would have arrived by now

    (envelope,) = received(receiver, "/big", filtered["secret"])  # verified with the reference library
    assert (envelope["type"], envelope["data"]["order"]["id"]) == ("order.created", dear_order["id"])
    assert list(Delivery.objects.filter(endpoint_id=filtered["id"]).values_list("event__type", flat=True)) == [
        "order.created"
    ]
    assert Delivery.objects.filter(endpoint_id=everything["id"]).count() > 4
