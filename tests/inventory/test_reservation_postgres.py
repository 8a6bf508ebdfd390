"""A reservation sent with its request's COMMIT (PostgreSQL): its events are built in SQL from the
row it leaves, exactly as Python builds them elsewhere, and too little stock still refuses it."""

import uuid
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import connection

from events.models import Event
from inventory.models import Pet
from inventory.services import UnknownPet, _pet_data, create_pet, refusal
from orders.models import Order
from tests.conftest import order_body

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)")


def place(customer, items):
    """POST /v1/orders, and the events its one dispatch message names."""
    body = {"items": items, "payment": {"method": "card", "token": "tok_visa"}}
    with mock.patch("events.outbox.handoff.current_app.send_task") as send_task:
        response = customer.client.post("/v1/orders", body, format="json")
    named = [[call.args[1][0], *call.kwargs.get("kwargs", {}).get("together", [])] for call in send_task.call_args_list]
    return response, named


@pytest.mark.parametrize(
    ("name", "price", "quantity", "types"),
    [
        ("Rex", Decimal("125.50"), 1, ["inventory.updated"]),
        ('Ré "the\\ünïcode" <b>', Decimal("7"), 3, ["inventory.updated", "inventory.low_stock"]),
        ("Last", Decimal("0.05"), 5, ["inventory.updated", "inventory.low_stock"]),  # sold out
    ],
)
def test_the_pets_events_built_in_sql_are_those_python_builds(customer, name, price, quantity, types):
    pet = create_pet(name=name, species="dog", price=price, stock=5, low_stock_threshold=2)  # its event 1

    response, named = place(customer, [{"pet_id": str(pet.id), "quantity": quantity}])

    assert response.status_code == 201
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5 - quantity, quantity)
    events = list(Event.objects.filter(subject=f"pet/{pet.id}", sequence__gt=1).order_by("sequence"))
    assert [(event.type, event.sequence) for event in events] == [(type, 2 + n) for n, type in enumerate(types)]
    assert all(event.data == {"pet": _pet_data(pet)} for event in events)
    created = Event.objects.get(subject=f"order/{response.json()['id']}")
    assert {event.txid for event in events} == {created.txid}
    # One message names the order's event and the pet's, those written alone.
    assert named == [[str(created.id), *(str(event.id) for event in events)]]


def test_too_little_stock_refuses_the_order_and_writes_nothing(customer, pet):
    plenty = create_pet(name="Plenty", species="cat", price=Decimal(1), stock=100)
    before = Event.objects.count()

    for _ in range(3):  # the connection serves on, each time
        response, named = place(
            customer, [{"pet_id": str(plenty.id), "quantity": 1}, {"pet_id": str(pet.id), "quantity": 6}]
        )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/out-of-stock"
        assert response.json()["detail"] == "Only 5 of Rex left; you asked for 6."

    assert named == []
    assert (Order.objects.count(), Event.objects.count()) == (0, before)
    assert list(Pet.objects.order_by("name").values_list("name", "stock", "reserved")) == [
        ("Plenty", 100, 0),
        ("Rex", 5, 0),
    ]
    assert customer.client.post("/v1/orders", order_body(pet, 5), format="json").status_code == 201


def refused_by_the_database(sql: str, params: list):
    from django.db import IntegrityError, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except IntegrityError as error:
        return error
    raise AssertionError("not refused")


def test_a_refusal_names_a_pet_gone_or_a_stock_that_changed_and_nothing_else(pet, customer):
    stock_refused = refused_by_the_database(f"UPDATE {Pet._meta.db_table} SET stock = -1 WHERE id = %s", [pet.id.hex])
    gone = uuid.uuid4()

    refused = refusal({pet.id: 1, gone: 1}, stock_refused)
    assert isinstance(refused, UnknownPet)
    assert str(gone) in str(refused)
    # Enough stock now (restocked since): still the stock's refusal, not a 500.
    assert refusal({pet.id: 5}, stock_refused).code == "out-of-stock"
    User.objects.create_user(username="taken")
    other = refused_by_the_database("UPDATE auth_user SET username = 'taken' WHERE id = %s", [customer.user.id])
    assert refusal({pet.id: 5}, other) is None  # not the pets': the caller raises it


def test_a_reservation_that_changes_no_row_fails_its_transaction(pet):
    from django.db import IntegrityError

    from events.outbox.recording import recording_with_the_commit
    from inventory.services import reserve

    with pytest.raises(IntegrityError), recording_with_the_commit(last=lambda: reserve(quantities={uuid.uuid4(): 1})):
        Pet.objects.filter(id=pet.id).update(stock=4)

    pet.refresh_from_db()
    assert pet.stock == 5  # rolled back: no order goes through without its stock


def test_the_events_a_reservation_writes_are_read_back_as_the_orm_reads_them(pet):
    from events.outbox import handoff
    from events.outbox.recording import recording_with_the_commit
    from inventory.services import reserve

    handed_on = []
    with (
        mock.patch.object(handoff, "queue_dispatch_after_commit", handed_on.append),
        recording_with_the_commit(last=lambda: reserve(quantities={pet.id: 3})),
    ):
        pass

    (events,) = handed_on
    pet.refresh_from_db()
    stored = Event.objects.in_bulk([event.id for event in events])
    assert [(event.type, event.sequence, event.data) for event in events] == [
        (stored[event.id].type, stored[event.id].sequence, {"pet": _pet_data(pet)}) for event in events
    ]
    assert [event.type for event in events] == ["inventory.updated", "inventory.low_stock"]
