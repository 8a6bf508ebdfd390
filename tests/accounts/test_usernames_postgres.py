"""Racing registrations of one name on PostgreSQL: one account, the others a 400, never a 500."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.postgres

SPELLINGS = ["alice", "Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45", "\uff21\uff4c\uff49\uff43\uff45"]


@pytest.fixture(autouse=True)
def _needs_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)")


def test_twenty_racing_registrations_of_one_name_make_one_account():
    barrier = threading.Barrier(20)

    def register(index: int) -> int:
        try:
            barrier.wait()
            body = {"username": SPELLINGS[index % len(SPELLINGS)], "email": "a@example.com", "password": PASSWORD}
            return APIClient().post("/v1/users", body, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(register, range(20)))

    assert sorted(statuses) == [201] + [400] * 19
    assert User.objects.count() == 1
