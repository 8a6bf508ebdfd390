"""Registration, API keys, authentication and rate limits, through the API."""

import hashlib

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts import throttling
from accounts.models import ApiKey
from accounts.throttling import ApiKeyRateThrottle

pytestmark = pytest.mark.django_db


def test_register_then_get_a_key_and_use_it():
    client = APIClient()
    registered = client.post(
        "/v1/users",
        {"username": "ada", "email": "ada@example.com", "password": "analytical-engine-1843"},
        format="json",
    )
    assert registered.status_code == 201
    assert "password" not in registered.json()

    issued = client.post("/v1/auth/tokens", {"username": "ada", "password": "analytical-engine-1843"}, format="json")
    assert issued.status_code == 201
    key = issued.json()["api_key"]

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/v1/orders").status_code == 200


def test_keys_are_stored_hashed_only(customer):
    stored = ApiKey.objects.get(user=customer.user)
    assert customer.key not in (stored.key_hash, stored.prefix, stored.name)
    assert stored.key_hash == hashlib.sha256(customer.key.encode()).hexdigest()


def test_wrong_password_is_401_problem():
    APIClient().post(
        "/v1/users", {"username": "bob", "email": "b@example.com", "password": "s3cret-enough-pw"}, format="json"
    )
    response = APIClient().post("/v1/auth/tokens", {"username": "bob", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_taken_username_and_weak_password_are_field_errors(customer):
    response = APIClient().post(
        "/v1/users", {"username": customer.user.username, "email": "x", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "email", "password"}


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer wrong", "Token abc", "Bearer pk_revoked"])
def test_missing_or_bad_key_is_401_with_www_authenticate(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/v1/orders")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["status"] == 401


def test_revoked_key_no_longer_works(customer):
    ApiKey.objects.filter(user=customer.user).update(revoked_at="2026-01-01T00:00:00Z")
    assert customer.client.get("/v1/orders").status_code == 401


def test_create_api_key_command_prints_the_key_last(capsys):
    call_command("create_api_key", "ops", "--create-user", "--staff")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/v1/orders").status_code == 200
    assert ApiKey.objects.get().user.is_staff


def test_too_many_requests_is_429_with_retry_after(customer, monkeypatch):
    monkeypatch.setitem(ApiKeyRateThrottle.THROTTLE_RATES, "api_key", "3/min")
    statuses = [customer.client.get("/v1/orders").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = customer.client.get("/v1/orders")
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/problem+json"


def test_each_key_has_its_own_limit(make_customer, monkeypatch):
    customer, other_customer = make_customer(), make_customer()
    monkeypatch.setitem(ApiKeyRateThrottle.THROTTLE_RATES, "api_key", "2/min")
    assert [customer.client.get("/v1/orders").status_code for _ in range(3)] == [200, 200, 429]
    assert other_customer.client.get("/v1/orders").status_code == 200


@pytest.fixture
def rate_limit_store_down(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    throttling._redis.cache_clear()
    yield
    throttling._redis.cache_clear()


@pytest.mark.usefixtures("rate_limit_store_down")
def test_requests_are_served_when_the_rate_limit_store_is_down(customer, monkeypatch):
    monkeypatch.setitem(ApiKeyRateThrottle.THROTTLE_RATES, "api_key", "1/min")
    assert [customer.client.get("/v1/orders").status_code for _ in range(2)] == [200, 200]
