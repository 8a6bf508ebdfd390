"""The admin's pet form: stock is shown, never written back; staff add to it through the restock service."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from events.models import Event
from inventory.events import InventoryEvent
from inventory.models import MAX_STOCK, Pet
from orders import services as orders

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.login(username="boss", password="pw")
    return client


def form(pet: Pet, **changes) -> dict:
    """The change form as the page showed it (stock included, as a forged POST would send it)."""
    return {
        "name": pet.name,
        "species": pet.species,
        "price": str(pet.price),
        "currency": pet.currency,
        "stock": str(pet.stock),
        "low_stock_threshold": str(pet.low_stock_threshold),
        "add_stock": "",
        **changes,
    }


def stock_events(pet: Pet) -> list[dict]:
    events = Event.objects.filter(type=InventoryEvent.UPDATED, subject=f"pet/{pet.id}").order_by("id")
    return [event.data["pet"] for event in events]


def change(client: Client, pet: Pet, data: dict):
    return client.post(f"/admin/inventory/pet/{pet.id}/change/", data)


def test_saving_the_pet_form_keeps_reservations_made_while_it_was_open(admin_client, customer, pet):
    assert admin_client.get(f"/admin/inventory/pet/{pet.id}/change/").status_code == 200
    shown = form(pet, name="Rex the Second")  # stock 5 on the page
    orders.place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 3}], payment={"method": "card", "token": "tok_visa"}
    )

    assert change(admin_client, pet, shown).status_code == 302

    pet.refresh_from_db()
    assert (pet.name, pet.stock, pet.reserved) == ("Rex the Second", 2, 3)


def test_add_stock_in_the_pet_form_restocks_with_an_inventory_event(admin_client, pet):
    before = len(stock_events(pet))

    assert change(admin_client, pet, form(pet, add_stock="10")).status_code == 302

    pet.refresh_from_db()
    assert pet.stock == 15
    events = stock_events(pet)
    assert len(events) == before + 1
    assert events[-1]["stock"] == 15


@pytest.mark.parametrize(
    "changes",
    [
        {"add_stock": "2000000000"},
        {"add_stock": str(MAX_STOCK - 5 - 2 + 1)},  # 5 on sale, 2 reserved: one unit too many
        {"stock": "2000000000"},
        {"low_stock_threshold": "2000000000"},
    ],
)
def test_the_pet_form_keeps_stock_within_the_limit(admin_client, pet, changes):
    Pet.objects.filter(id=pet.id).update(reserved=2)
    pet.refresh_from_db()
    before = len(stock_events(pet))

    response = change(admin_client, pet, form(pet, **changes))

    pet.refresh_from_db()
    assert (pet.stock, pet.reserved, pet.low_stock_threshold) == (5, 2, 2)
    assert len(stock_events(pet)) == before
    if "stock" not in changes:  # a read-only field: ignored, not an error
        assert response.status_code == 200
        assert "errorlist" in response.content.decode()


def test_the_add_form_makes_a_pet_with_its_inventory_event(admin_client):
    data = form(Pet(name="Tom", species="cat", price="10.00", currency="USD", low_stock_threshold=1), add_stock="4")

    assert admin_client.post("/admin/inventory/pet/add/", data).status_code == 302

    pet = Pet.objects.get(name="Tom")
    assert (pet.stock, pet.reserved) == (4, 0)
    assert [event["stock"] for event in stock_events(pet)] == [0, 4]
