"""Concurrency on PostgreSQL: many buyers at once never oversell."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inventory.models import Pet
from orders.models import Order
from tests.conftest import order_body

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)")


def run_at_once(count: int, action):
    """Run `action` in `count` threads released together; each thread has its own connection."""
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            return action(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_buyers_for_five_units_make_exactly_five_orders(make_customer, pet):
    buyers = [make_customer() for _ in range(50)]
    Pet.objects.filter(id=pet.id).update(stock=5)

    def buy(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {buyers[index].key}")
        return client.post("/v1/orders", order_body(pet), format="json").status_code

    statuses = run_at_once(50, buy)

    assert sorted(statuses) == [201] * 5 + [409] * 45
    assert Order.objects.count() == 5
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (0, 5)
