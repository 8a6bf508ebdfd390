"""Orders through the API: what a client sees, errors included."""

import uuid
from decimal import Decimal

import pytest

from events.models import Event
from inventory.services import create_pet
from orders import services
from orders.models import Order
from tests.conftest import order_body

pytestmark = pytest.mark.django_db


def test_placing_an_order_answers_201_with_location_at_once(customer, pet):
    response = customer.client.post("/v1/orders", order_body(pet, 2), format="json")

    assert response.status_code == 201
    order = response.json()
    assert response["Location"].endswith(f"/v1/orders/{order['id']}")
    assert order["status"] == "placed"
    assert order["payment_status"] == "pending"
    assert order["items"] == [{"pet_id": str(pet.id), "quantity": 2, "unit_price": "125.50"}]
    assert (order["total"], order["currency"], order["cancel_reason"]) == ("251.00", "USD", None)
    assert order["created_at"].endswith("Z")
    assert customer.client.get(response["Location"]).json() == order


def test_too_little_stock_is_409_problem_and_no_order(customer, pet):
    response = customer.client.post("/v1/orders", order_body(pet, 50), format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/out-of-stock"
    assert "Only 5 of Rex left" in response.json()["detail"]
    assert customer.client.get("/v1/orders").json()["results"] == []


def test_idempotency_key_replays_the_first_response(customer, pet):
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-attempt-1"}
    first = customer.client.post("/v1/orders", order_body(pet), format="json", **headers)
    services.charge_payment(order_id=first.json()["id"])  # the order moved on meanwhile
    again = customer.client.post("/v1/orders", order_body(pet), format="json", **headers)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(customer.client.get("/v1/orders").json()["results"]) == 1


def test_idempotency_key_with_another_body_is_422(customer, pet):
    headers = {"HTTP_IDEMPOTENCY_KEY": "k"}
    customer.client.post("/v1/orders", order_body(pet), format="json", **headers)
    response = customer.client.post("/v1/orders", order_body(pet, 2), format="json", **headers)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/idempotency-key-reused"


def test_another_customers_order_is_404(make_customer, pet):
    alice, bob = make_customer(), make_customer()
    order_id = alice.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    for path in (f"/v1/orders/{order_id}", f"/v1/orders/{order_id}/events"):
        assert bob.client.get(path).status_code == 404
    assert bob.client.post(f"/v1/orders/{order_id}/cancel").status_code == 404
    assert bob.client.get("/v1/orders").json()["results"] == []
    assert bob.client.get("/v1/events").json()["results"] == []


def test_cancel_releases_stock_then_shipped_orders_cannot_be_cancelled(customer, staff, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet, 2), format="json").json()["id"]
    cancelled = customer.client.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == ("cancelled", "requested_by_customer")
    assert customer.client.get(f"/v1/pets/{pet.id}").json()["stock"] == 5

    shipped_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    services.charge_payment(order_id=shipped_id)
    assert staff.client.post(f"/v1/orders/{shipped_id}/ship").json()["status"] == "shipped"
    response = customer.client.post(f"/v1/orders/{shipped_id}/cancel")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/invalid-transition"


def test_only_staff_ship_and_deliver(customer, staff, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    services.charge_payment(order_id=order_id)
    assert customer.client.post(f"/v1/orders/{order_id}/ship").status_code == 403
    assert staff.client.post(f"/v1/orders/{order_id}/deliver").status_code == 409
    assert staff.client.post(f"/v1/orders/{order_id}/ship").status_code == 200
    assert staff.client.post(f"/v1/orders/{order_id}/deliver").json()["status"] == "delivered"


def test_order_timeline_and_event_feed(customer, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    services.charge_payment(order_id=order_id)

    timeline = customer.client.get(f"/v1/orders/{order_id}/events").json()
    assert [event["type"] for event in timeline] == [
        "order.created",
        "order.status_changed",
        "payment.succeeded",
        "order.completed",
    ]
    assert set(timeline[0]) == {"id", "type", "timestamp", "subject", "sequence", "data"}
    assert timeline[0]["data"]["order"]["id"] == order_id
    assert {event["subject"] for event in timeline} == {f"order/{order_id}"}
    assert [event["sequence"] for event in timeline] == [1, 2, 3, 4]

    feed = customer.client.get("/v1/events?type=payment.succeeded").json()["results"]
    assert [event["id"] for event in feed] == [timeline[2]["id"]]
    assert customer.client.get(f"/v1/events/{feed[0]['id']}").json() == timeline[2]
    after = Event.objects.get(id=timeline[1]["id"]).created_at.isoformat()
    newer = customer.client.get("/v1/events", {"created_after": after}).json()["results"]
    assert [event["type"] for event in newer] == ["order.completed", "payment.succeeded"]  # newest first
    other_order = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    of_subject = customer.client.get("/v1/events", {"subject": f"order/{order_id}"}).json()["results"]
    assert [event["sequence"] for event in of_subject] == [4, 3, 2, 1]  # newest first
    assert other_order not in str(of_subject)


def test_lists_use_cursor_pagination(customer, pet):
    for _ in range(3):
        customer.client.post("/v1/orders", order_body(pet), format="json")
    first = customer.client.get("/v1/orders?limit=2").json()
    assert len(first["results"]) == 2 and first["previous"] is None
    second = customer.client.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [], "payment": {"method": "card", "token": "tok_visa"}}, "items"),
        (
            {"items": [{"pet_id": "not-a-uuid", "quantity": 1}], "payment": {"method": "card", "token": "t"}},
            "items.0.pet_id",
        ),
        (
            {"items": [{"pet_id": str(uuid.uuid4()), "quantity": -1}], "payment": {"method": "card", "token": "t"}},
            "items.0.quantity",
        ),
        (
            {"items": [{"pet_id": str(uuid.uuid4()), "quantity": 10**30}], "payment": {"method": "card", "token": "t"}},
            "items.0.quantity",
        ),
        (
            {"items": [{"pet_id": str(uuid.uuid4()), "quantity": 1}], "payment": {"method": "cash", "token": "t"}},
            "payment.method",
        ),
        ({"items": "everything", "payment": None}, "items"),
    ],
)
def test_invalid_orders_get_field_errors(customer, body, field):
    response = customer.client.post("/v1/orders", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_an_unknown_pet_is_400_and_a_duplicate_line_is_a_field_error(customer, pet):
    unknown = customer.client.post(
        "/v1/orders",
        {"items": [{"pet_id": str(uuid.uuid4()), "quantity": 1}], "payment": {"method": "card", "token": "tok_visa"}},
        format="json",
    )
    assert (unknown.status_code, unknown.json()["type"]) == (400, "/problems/unknown-pet")
    twice = order_body(pet)
    twice["items"] *= 2
    assert "items" in customer.client.post("/v1/orders", twice, format="json").json()["errors"]


def test_a_total_beyond_the_precision_is_422_and_no_order(customer):
    dear = create_pet(name="Gold", species="reptile", price=Decimal("99999999.99"), stock=1000)
    response = customer.client.post("/v1/orders", order_body(dear, 1000), format="json")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/total-out-of-range"
    assert not Order.objects.exists()
    dear.refresh_from_db()
    assert dear.stock == 1000


def test_the_largest_total_that_fits_is_accepted_exactly(customer):
    dear = create_pet(name="Gold", species="reptile", price=Decimal("99999999.99"), stock=1000)
    cheap = create_pet(name="Tin", species="reptile", price=Decimal("0.01"), stock=1000)
    body = order_body(dear, 100)
    body["items"].append({"pet_id": str(cheap.id), "quantity": 99})
    response = customer.client.post("/v1/orders", body, format="json")
    assert response.status_code == 201
    assert response.json()["total"] == "9999999999.99"
    body["items"][1]["quantity"] = 100
    assert customer.client.post("/v1/orders", body, format="json").status_code == 422
