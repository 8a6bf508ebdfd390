"""Property-based: whatever order body a client sends, and whatever the pets cost, the API never
answers 500, and a placed order's total is exactly the sum of its lines."""

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.services import create_pet
from orders.models import Order

pytestmark = pytest.mark.django_db

MAX_PRICE = Decimal("99999999.99")  # the most a pet may cost (10 digits, 2 decimals)
TOTAL_BOUND = Decimal("10000000000")  # the first total Order.total (12 digits, 2 decimals) cannot hold

prices = st.one_of(
    st.sampled_from([Decimal("0.00"), Decimal("0.01"), MAX_PRICE]),
    st.decimals(min_value=0, max_value=MAX_PRICE, places=2, allow_nan=False, allow_infinity=False),
)
valid_quantities = st.one_of(st.sampled_from([1, 1000]), st.integers(min_value=1, max_value=1000))
invalid_quantities = st.one_of(
    st.sampled_from([0, -1, 1001, 2**63, 10**30, 1.5, None, True, "many", [], {}]),
    st.integers(max_value=0),
    st.integers(min_value=1001),
)
lines = st.lists(
    st.fixed_dictionaries(
        {
            "price": prices,
            "currency": st.sampled_from(["USD"] * 9 + ["EUR"]),
            "quantity": st.one_of(valid_quantities, valid_quantities, valid_quantities, invalid_quantities),
        }
    ),
    min_size=1,
    max_size=8,
)


def is_valid_quantity(quantity) -> bool:
    return isinstance(quantity, int) and not isinstance(quantity, bool) and 1 <= quantity <= 1000


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=lines, unknown_pet=st.booleans() | st.just(False))
def test_any_order_body_is_placed_exactly_or_refused_never_a_500(customer, lines, unknown_pet):
    pets = [
        create_pet(name="Prop", species="other", price=line["price"], currency=line["currency"], stock=1_000_000)
        for line in lines
    ]
    items = [{"pet_id": str(pet.id), "quantity": line["quantity"]} for pet, line in zip(pets, lines, strict=True)]
    if unknown_pet:
        items.append({"pet_id": str(uuid.uuid4()), "quantity": 1})
    orders_before = Order.objects.count()

    response = customer.client.post(
        "/v1/orders", {"items": items, "payment": {"method": "card", "token": "tok_visa"}}, format="json"
    )

    exact_total = sum(line["price"] * line["quantity"] for line in lines if is_valid_quantity(line["quantity"]))
    if not all(is_valid_quantity(line["quantity"]) for line in lines):
        expected = (400, "/problems/validation-error")
    elif unknown_pet:
        expected = (400, "/problems/unknown-pet")
    elif len({line["currency"] for line in lines}) > 1:
        expected = (422, "/problems/mixed-currencies")
    elif exact_total >= TOTAL_BOUND:
        expected = (422, "/problems/total-out-of-range")
    else:
        expected = (201, None)
    body = response.json()
    assert (response.status_code, body.get("type")) == expected, body
    if response.status_code != 201:
        assert Order.objects.count() == orders_before
        return
    assert Decimal(body["total"]) == exact_total
    assert body["total"] == f"{exact_total:.2f}"
    assert [(item["unit_price"], item["quantity"]) for item in body["items"]] == [
        (f"{line['price']:.2f}", line["quantity"]) for line in lines
    ]
    assert Order.objects.get(id=body["id"]).total == exact_total
