"""Pets and inventory through the API."""

import pytest

from events.models import Event
from inventory.events import InventoryEvent
from inventory.models import MAX_STOCK, Pet

pytestmark = pytest.mark.django_db

NEW_PET = {"name": "Luna", "species": "cat", "price": "140.00", "currency": "USD", "stock": 2}


def test_list_and_filter_pets(customer, pet):
    Pet.objects.create(name="Gone", species="cat", price="1.00", stock=0)
    everything = customer.client.get("/v1/pets").json()["results"]
    assert {p["name"] for p in everything} == {"Rex", "Gone"}
    assert [p["name"] for p in customer.client.get("/v1/pets?status=sold_out").json()["results"]] == ["Gone"]
    assert [p["name"] for p in customer.client.get("/v1/pets?species=dog").json()["results"]] == ["Rex"]
    rex = customer.client.get(f"/v1/pets/{pet.id}").json()
    assert rex == {
        "id": str(pet.id),
        "name": "Rex",
        "species": "dog",
        "price": "125.50",
        "currency": "USD",
        "status": "available",
        "stock": 5,
        "low_stock_threshold": 2,
    }


def test_bad_filter_is_a_field_error(customer):
    response = customer.client.get("/v1/pets?status=asleep")
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_customers_cannot_change_the_catalog(customer, pet):
    assert customer.client.post("/v1/pets", NEW_PET, format="json").status_code == 403
    assert customer.client.patch(f"/v1/pets/{pet.id}", {"price": "1.00"}, format="json").status_code == 403
    assert customer.client.delete(f"/v1/pets/{pet.id}").status_code == 403
    assert customer.client.post(f"/v1/pets/{pet.id}/restock", {"quantity": 1}, format="json").status_code == 403


def test_staff_create_update_restock_and_delete(staff):
    created = staff.client.post("/v1/pets", NEW_PET, format="json")
    assert created.status_code == 201
    pet_id = created.json()["id"]
    assert staff.client.patch(f"/v1/pets/{pet_id}", {"price": "150.00"}, format="json").json()["price"] == "150.00"

    restocked = staff.client.post(f"/v1/pets/{pet_id}/restock", {"quantity": 3}, format="json")
    assert restocked.json()["stock"] == 5
    assert Event.objects.filter(type=InventoryEvent.UPDATED, subject=f"pet/{pet_id}").count() == 2

    assert staff.client.delete(f"/v1/pets/{pet_id}").status_code == 204


def test_stock_changes_only_through_restock(staff, pet):
    staff.client.patch(f"/v1/pets/{pet.id}", {"stock": 999}, format="json")
    pet.refresh_from_db()
    assert pet.stock == 5


def test_restock_stops_at_the_stock_limit_reserved_units_included(staff, pet):
    Pet.objects.filter(id=pet.id).update(reserved=2)  # a placed order's, given back if it is cancelled
    too_much = staff.client.post(f"/v1/pets/{pet.id}/restock", {"quantity": MAX_STOCK - 5 - 2 + 1}, format="json")
    assert too_much.status_code == 409
    assert too_much.json()["type"] == "/problems/too-much-stock"
    pet.refresh_from_db()
    assert pet.stock == 5

    filled = staff.client.post(f"/v1/pets/{pet.id}/restock", {"quantity": MAX_STOCK - 5 - 2}, format="json")
    assert filled.json()["stock"] == MAX_STOCK - 2


def test_a_pet_with_orders_cannot_be_deleted(staff, customer, pet):
    from tests.conftest import order_body

    customer.client.post("/v1/orders", order_body(pet), format="json")
    response = staff.client.delete(f"/v1/pets/{pet.id}")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/pet-in-use"


def test_store_inventory_counts_stock_per_status(customer, pet):
    Pet.objects.create(name="Gone", species="cat", price="1.00", stock=0)
    assert customer.client.get("/v1/store/inventory").json() == {
        "available": {"pets": 1, "stock": 5},
        "sold_out": {"pets": 1, "stock": 0},
        "totals": {"pets": 2, "stock": 5, "reserved": 0},
    }
