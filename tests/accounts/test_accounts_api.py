"""Registration, API keys, authentication and rate limits, through the API."""

import hashlib
import importlib

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services, throttling
from accounts.models import ApiKey, UsernameClaim
from accounts.throttling import AnonymousRateThrottle, ApiKeyRateThrottle
from accounts.usernames import legacy_duplicate_key, username_key
from tests.conftest import PASSWORD

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


def login(username: str, password: str, **client_kwargs):
    return APIClient(**client_kwargs).post(
        "/v1/auth/tokens", {"username": username, "password": password}, format="json"
    )


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password", "too common"),
        ("12345678", "too common"),
        ("aaaaaaaa", "too common"),
        ("83920571", "entirely numeric"),
        ("short1!", "at least 8 characters"),
        ("hopper.grace1906", "too similar"),
    ],
)
def test_weak_passwords_are_refused_at_sign_up(password, why):
    response = APIClient().post(
        "/v1/users",
        {"username": "hopper.grace1906", "email": "grace@example.com", "password": password},
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert set(errors) == {"password"}
    assert any(why in message for message in errors["password"])
    assert not User.objects.filter(username="hopper.grace1906").exists()


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


def test_a_known_key_costs_the_request_no_query_for_it(customer):
    assert customer.client.get("/v1/orders").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert customer.client.get("/v1/orders").status_code == 200
    assert not [query for query in queries if "accounts_apikey" in query["sql"]]


@pytest.mark.redis
def test_the_cache_never_holds_a_password_hash(customer):
    assert customer.client.get("/v1/orders").status_code == 200
    cached = b"".join(
        redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).get(key) or b""
        for key in redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).keys("*api-key*")
    )
    assert cached and customer.user.password.encode() not in cached


def test_a_key_revoked_after_use_stops_working_at_once(customer):
    assert customer.client.get("/v1/orders").status_code == 200  # now cached
    api_key = ApiKey.objects.get(user=customer.user)
    api_key.revoked_at = timezone.now()
    api_key.save()  # as the admin does
    assert customer.client.get("/v1/orders").status_code == 401


def test_a_deactivated_or_deleted_user_s_keys_stop_working_at_once(customer, make_customer):
    assert customer.client.get("/v1/orders").status_code == 200
    customer.user.is_active = False
    customer.user.save()
    assert customer.client.get("/v1/orders").status_code == 401

    other = make_customer()
    assert other.client.get("/v1/orders").status_code == 200
    other.user.delete()
    assert other.client.get("/v1/orders").status_code == 401


def test_create_api_key_command_prints_the_key_last(capsys):
    call_command("create_api_key", "ops", "--create-user", "--staff")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/v1/orders").status_code == 200
    assert ApiKey.objects.get().user.is_staff


@pytest.mark.redis
def test_too_many_requests_is_429_with_retry_after(customer, monkeypatch):
    monkeypatch.setitem(ApiKeyRateThrottle.THROTTLE_RATES, "api_key", "3/min")
    statuses = [customer.client.get("/v1/orders").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = customer.client.get("/v1/orders")
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.redis
def test_each_user_has_their_own_limit(make_customer, monkeypatch):
    customer, other_customer = make_customer(), make_customer()
    monkeypatch.setitem(ApiKeyRateThrottle.THROTTLE_RATES, "api_key", "2/min")
    assert [customer.client.get("/v1/orders").status_code for _ in range(3)] == [200, 200, 429]
    assert other_customer.client.get("/v1/orders").status_code == 200


@pytest.mark.redis
def test_all_of_a_users_keys_share_one_limit(customer, monkeypatch):
    monkeypatch.setitem(ApiKeyRateThrottle.THROTTLE_RATES, "api_key", "4/min")
    clients = [customer.client]
    for _ in range(3):
        key = login(customer.user.username, PASSWORD).json()["api_key"]
        clients.append(APIClient(HTTP_AUTHORIZATION=f"Bearer {key}"))
    statuses = [client.get("/v1/orders").status_code for client in clients * 2]
    assert statuses == [200, 200, 200, 200, 429, 429, 429, 429]


@pytest.mark.redis
def test_anonymous_limit_is_per_socket_address_whatever_x_forwarded_for_says(monkeypatch):
    monkeypatch.setitem(AnonymousRateThrottle.THROTTLE_RATES, "anonymous", "3/min")
    statuses = [APIClient(HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").get("/v1/event-types").status_code for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert APIClient(REMOTE_ADDR="192.0.2.7").get("/v1/event-types").status_code == 200


@pytest.mark.redis
def test_an_ipv6_client_rotating_inside_its_64_is_one_client_for_calls_and_sign_ups(monkeypatch):
    monkeypatch.setitem(AnonymousRateThrottle.THROTTLE_RATES, "anonymous", "3/min")
    statuses = [APIClient(REMOTE_ADDR=f"2001:db8:1:2::{n:x}").get("/v1/event-types").status_code for n in range(3)]
    sign_ups = [
        APIClient(REMOTE_ADDR=f"2001:db8:1:2:{n:x}::1")
        .post("/v1/users", {"username": f"rotor{n}", "email": "r@example.com", "password": PASSWORD}, format="json")
        .status_code
        for n in range(2)
    ]
    assert statuses + sign_ups == [200, 200, 200, 429, 429]
    assert not User.objects.filter(username__startswith="rotor").exists()
    assert APIClient(REMOTE_ADDR="2001:db8:1:3::1").get("/v1/event-types").status_code == 200  # the next /64


@pytest.mark.redis
def test_wrong_keys_are_limited_per_address_block_and_refused_without_a_query(customer, settings):
    settings.API_KEY_FAILURE_LIMIT = 3
    customer.client.get("/v1/orders", REMOTE_ADDR="2001:db8:7:8::1")  # the real key is cached now

    def guess(n: int):
        return APIClient(REMOTE_ADDR=f"2001:db8:7:8::{n:x}", HTTP_AUTHORIZATION=f"Bearer pk_guess{n}").get("/v1/orders")

    assert [guess(n).status_code for n in range(3)] == [401, 401, 401]
    with CaptureQueriesContext(connection) as queries:
        refused = guess(99)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/too-many-bad-api-keys"
    assert 0 < int(refused["Retry-After"]) <= settings.API_KEY_FAILURE_WINDOW
    assert not [query for query in queries if "accounts_apikey" in query["sql"]]
    # A key the cache knows still works from there, and other addresses are not refused.
    assert customer.client.get("/v1/orders", REMOTE_ADDR="2001:db8:7:8::2").status_code == 200
    assert APIClient(REMOTE_ADDR="192.0.2.8", HTTP_AUTHORIZATION="Bearer pk_guess").get("/v1/orders").status_code == 401


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


# --- Failed logins -------------------------------------------------------------------------


@pytest.fixture
def login_limits(settings):
    settings.LOGIN_FAILURE_LIMIT_PER_USERNAME = 5
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 20
    settings.LOGIN_FAILURE_WINDOW = 900
    return settings


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert 0 < int(response["Retry-After"]) <= 900
    assert response.json()["type"] == "/problems/login-locked-out"


@pytest.mark.redis
@pytest.mark.usefixtures("login_limits")
def test_wrong_passwords_lock_the_username_from_that_address_even_for_the_right_password(customer):
    username = customer.user.username
    statuses = [login(username, f"guess-{n}", REMOTE_ADDR="203.0.113.9").status_code for n in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert_locked_out(login(username, PASSWORD, REMOTE_ADDR="203.0.113.9"))
    assert_locked_out(login(username.upper(), PASSWORD, REMOTE_ADDR="203.0.113.9"))  # one name, one counter
    assert ApiKey.objects.filter(user=customer.user).count() == 1  # the fixture's key only


@pytest.mark.redis
@pytest.mark.usefixtures("login_limits")
def test_someone_else_s_wrong_passwords_do_not_lock_the_user_out_from_their_own_address(customer):
    username = customer.user.username
    for attacker in ("203.0.113.9", "2001:db8:6:6::1"):
        assert [login(username, "guess", REMOTE_ADDR=attacker).status_code for _ in range(6)][-1] == 429
    assert login(username, PASSWORD, REMOTE_ADDR="192.0.2.44").status_code == 201


@pytest.mark.usefixtures("login_limits")
def test_another_username_is_not_locked_by_someone_elses_failures(make_customer):
    victim, bystander = make_customer(), make_customer()
    for n in range(6):
        login(victim.user.username, f"guess-{n}", REMOTE_ADDR=f"203.0.113.{n}")
    assert login(bystander.user.username, PASSWORD, REMOTE_ADDR="192.0.2.44").status_code == 201


@pytest.mark.redis
@pytest.mark.usefixtures("login_limits")
def test_wrong_passwords_from_one_address_lock_it_for_every_username(customer):
    statuses = [login(f"someone{n}", "guess", REMOTE_ADDR="203.0.113.9").status_code for n in range(25)]
    assert statuses == [401] * 20 + [429] * 5
    assert_locked_out(login(customer.user.username, PASSWORD, REMOTE_ADDR="203.0.113.9"))
    assert login(customer.user.username, PASSWORD, REMOTE_ADDR="192.0.2.44").status_code == 201


@pytest.mark.redis
@pytest.mark.usefixtures("login_limits")
def test_a_rotating_x_forwarded_for_does_not_help_without_trusted_proxies(customer):
    statuses = [
        login(f"someone{n}", "guess", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(25)
    ]
    assert statuses == [401] * 20 + [429] * 5


@pytest.mark.redis
@pytest.mark.usefixtures("login_limits")
def test_behind_a_trusted_proxy_the_forwarded_address_counts(customer, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # The attacker forges entries on the left; the proxy appends the address it saw on the right.
    statuses = [
        login(f"someone{n}", "guess", **proxy, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9").status_code
        for n in range(25)
    ]
    assert statuses == [401] * 20 + [429] * 5
    assert_locked_out(login(customer.user.username, PASSWORD, **proxy, HTTP_X_FORWARDED_FOR="203.0.113.9"))
    # Another client behind the same proxy is not locked out with the attacker.
    assert login(customer.user.username, PASSWORD, **proxy, HTTP_X_FORWARDED_FOR="192.0.2.44").status_code == 201


@pytest.mark.usefixtures("login_limits")
def test_successful_logins_do_not_count_as_failures(customer):
    statuses = {login(customer.user.username, PASSWORD, REMOTE_ADDR="203.0.113.9").status_code for _ in range(25)}
    assert statuses == {201}


@pytest.mark.redis
def test_ipv6_clients_are_counted_per_64_block(customer, login_limits):
    statuses = [login(f"someone{n}", "guess", REMOTE_ADDR=f"2001:db8:1:2::{n:x}").status_code for n in range(25)]
    assert statuses == [401] * 20 + [429] * 5


# --- Caps ---------------------------------------------------------------------------------------


def test_api_keys_per_user_are_capped(customer, settings):
    settings.MAX_API_KEYS_PER_USER = 3  # the fixture's key is the first
    statuses = [login(customer.user.username, PASSWORD).status_code for _ in range(3)]
    assert statuses == [201, 201, 409]
    refused = login(customer.user.username, PASSWORD)
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/too-many-api-keys"
    ApiKey.objects.filter(user=customer.user).update(revoked_at="2026-01-01T00:00:00Z")
    assert login(customer.user.username, PASSWORD).status_code == 201


# --- Listing and revoking keys ------------------------------------------------------------------


def test_a_user_lists_their_own_keys_never_the_keys_themselves(customer, make_customer):
    second = login(customer.user.username, PASSWORD).json()["api_key"]
    make_customer()  # someone else's key is not listed

    first_page = customer.client.get("/v1/auth/tokens?limit=1")
    assert first_page.status_code == 200
    (newest,) = first_page.json()["results"]
    assert set(newest) == {"id", "prefix", "created_at", "last_used_at"}
    assert second.startswith(newest["prefix"])
    assert second not in first_page.content.decode() and customer.key not in first_page.content.decode()
    rest = customer.client.get(first_page.json()["next"]).json()
    (oldest,) = rest["results"]
    assert customer.key.startswith(oldest["prefix"]) and rest["next"] is None
    assert oldest["last_used_at"] is not None  # the key listing them was just used
    assert newest["last_used_at"] is None
    assert APIClient().get("/v1/auth/tokens").status_code == 401


def test_a_user_revokes_their_own_key_and_it_stops_working(customer, make_customer):
    other = make_customer()
    spare = login(customer.user.username, PASSWORD).json()["api_key"]
    spare_client = APIClient(HTTP_AUTHORIZATION=f"Bearer {spare}")
    assert spare_client.get("/v1/orders").status_code == 200  # now cached
    spare_id = ApiKey.objects.get(key_hash=hashlib.sha256(spare.encode()).hexdigest()).id

    assert other.client.delete(f"/v1/auth/tokens/{spare_id}").status_code == 404
    assert customer.client.delete("/v1/auth/tokens/not-a-uuid").status_code == 404
    assert spare_client.get("/v1/orders").status_code == 200

    assert customer.client.delete(f"/v1/auth/tokens/{spare_id}").status_code == 204
    assert spare_client.get("/v1/orders").status_code == 401
    assert customer.client.delete(f"/v1/auth/tokens/{spare_id}").status_code == 404
    assert [key["id"] for key in customer.client.get("/v1/auth/tokens").json()["results"]] != [str(spare_id)]
    assert customer.client.get("/v1/orders").status_code == 200


@pytest.mark.redis
def test_with_the_cache_down_revoking_is_a_503_and_the_key_is_left_as_it_was(customer, settings):
    assert customer.client.get("/v1/orders").status_code == 200  # cached as valid
    key_id = ApiKey.objects.get(user=customer.user).id
    with override_settings(CACHES={"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}):
        response = customer.client.delete(f"/v1/auth/tokens/{key_id}")
        assert response.status_code == 503
        assert response["Content-Type"] == "application/problem+json"
        assert int(response["Retry-After"]) > 0
    assert ApiKey.objects.get(id=key_id).revoked_at is None
    # Back with the cache, the revocation goes through and is seen at once.
    assert customer.client.delete(f"/v1/auth/tokens/{key_id}").status_code == 204
    assert customer.client.get("/v1/orders").status_code == 401


# --- One name per person -------------------------------------------------------------------------


def register(username: str):
    return APIClient().post(
        "/v1/users", {"username": username, "email": "someone@example.com", "password": PASSWORD}, format="json"
    )


def test_usernames_are_one_name_whatever_their_case_or_compatibility_form():
    assert register("Alice").status_code == 201
    for same_name in ("alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45", "\uff21lice"):  # full width
        response = register(same_name)
        assert response.status_code == 400, same_name
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["errors"] == {"username": ["This username is taken."]}
    assert register("Straße").status_code == 201
    assert register("STRASSE").status_code == 400  # case-folded, not only lower-cased
    assert User.objects.count() == 2


def test_a_race_the_serializer_missed_is_still_a_400_never_a_500(monkeypatch):
    assert register("bob").status_code == 201
    monkeypatch.setattr(services, "username_taken", lambda username: False)  # as if checked before bob
    response = register("BOB")
    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["This username is taken."]}


def test_create_api_key_finds_the_account_in_any_form_of_its_name(capsys):
    assert register("Carol").status_code == 201
    call_command("create_api_key", "\uff43\uff41\uff52\uff4f\uff4c", "--create-user")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert ApiKey.objects.get().user.username == "Carol"
    assert User.objects.count() == 1
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {key}").get("/v1/orders").status_code == 200


def test_the_admin_user_forms_refuse_another_form_of_a_taken_name(staff):
    from django.test import Client

    assert register("dave").status_code == 201
    assert register("strasse").status_code == 201
    admin = Client()
    staff.user.is_superuser = True
    staff.user.save()
    admin.force_login(staff.user)
    response = admin.post(
        "/admin/auth/user/add/",
        {"username": "Straße", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 200 and "A user with that username already exists." in response.content.decode()
    edited = admin.get(f"/admin/auth/user/{staff.user.pk}/change/")
    assert edited.status_code == 200
    form = edited.context["adminform"].form
    data = {**form.initial, "username": "\uff24ave", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    data = {
        name: value for name, value in data.items() if value is not None and name not in ("groups", "user_permissions")
    }
    response = admin.post(f"/admin/auth/user/{staff.user.pk}/change/", data)
    assert response.status_code == 200 and "A user with that username already exists." in response.content.decode()
    assert User.objects.filter(username__iexact="dave").count() == 1
    assert not User.objects.filter(username="Straße").exists()


def test_the_migration_claims_existing_names_and_keeps_older_duplicates_working():
    from django.apps import apps

    claims = importlib.import_module("accounts.migrations.0003_username_claims")
    older = User.objects.create_user(username="Eve", password=PASSWORD)
    (younger,) = User.objects.bulk_create([User(username="eve")])  # from before names were claimed
    UsernameClaim.objects.all().delete()

    claims.claim_existing_usernames(apps, schema_editor=None)

    assert UsernameClaim.objects.get(user=older).key == username_key("Eve")
    assert UsernameClaim.objects.get(user=younger).key == legacy_duplicate_key("eve", younger.pk)
    younger.email = "eve@example.com"
    younger.save()  # the duplicate keeps working
    assert register("EVE").status_code == 400
    assert login("Eve", PASSWORD).status_code == 201
