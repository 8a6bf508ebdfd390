"""The admin and accounts: its login page is limited like the API's login (per username from one
address and per address, the right password refused too until the window passes), and staff revoke
keys through the same service as the API."""

import time

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT_PER_USERNAME = 3
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 6
    settings.LOGIN_FAILURE_WINDOW = 2
    return settings


def admin_login(username: str, password: str, address: str = "203.0.113.9"):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return response, client


@pytest.mark.redis
def test_admin_login_refuses_even_the_right_password_after_failures_until_the_window_passes(staff, limits):
    username = staff.user.username
    assert [admin_login(username, f"guess-{n}")[0].status_code for n in range(3)] == [200, 200, 200]

    refused, client = admin_login(username, PASSWORD)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 2
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    logged_in, _ = admin_login(username, PASSWORD, address="192.0.2.5")  # the user, from elsewhere
    assert logged_in.status_code == 302

    time.sleep(2.1)
    logged_in, client = admin_login(username, PASSWORD)
    assert logged_in.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.redis
def test_admin_login_is_limited_per_address_across_usernames(staff, limits):
    statuses = [admin_login(f"someone{n}", "guess")[0].status_code for n in range(8)]
    assert statuses == [200] * 6 + [429] * 2
    assert admin_login(staff.user.username, PASSWORD)[0].status_code == 429


def test_staff_revoke_keys_in_the_admin_through_the_service(customer, staff):
    from accounts.models import ApiKey

    staff.user.is_superuser = True
    staff.user.save()
    admin = Client()
    admin.force_login(staff.user)
    assert customer.client.get("/v1/orders").status_code == 200
    key = ApiKey.objects.get(user=customer.user)
    response = admin.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]})
    assert response.status_code == 302
    assert customer.client.get("/v1/orders").status_code == 401


@pytest.mark.parametrize("typed", ["ALICE", "alice", "\uff41\uff4c\uff49\uff43\uff45"])  # the last: full width
def test_a_username_logs_in_in_any_form_of_it_in_the_api_and_the_admin(typed):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    User.objects.create_user(username="Alice", email="alice@example.com", password=PASSWORD, is_staff=True)
    issued = APIClient().post("/v1/auth/tokens", {"username": typed, "password": PASSWORD}, format="json")
    assert issued.status_code == 201, issued.content
    logged_in, client = admin_login(typed, PASSWORD)
    assert logged_in.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert (
        APIClient().post("/v1/auth/tokens", {"username": typed, "password": "wrong"}, format="json").status_code == 401
    )
