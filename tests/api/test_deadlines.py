"""Every outbound call has a deadline: a dependency that accepts and never answers costs one
attempt and a retry, never a stuck worker. The dependencies here are real sockets on loopback
that accept connections and then say nothing."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.core.cache import caches

from accounts import throttling
from orders import services
from orders.models import EmailKind, Order, OrderEmail, PaymentStatus
from orders.payments import PaymentTemporarilyFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts every connection and never sends a byte; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def cache_on(settings, port: int) -> None:
    """The shared cache (and with it the test gateway's ledger) on a "Redis" at `port`."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def place(customer, pet) -> Order:
    return services.place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 1}], payment={"method": "card", "token": "tok_visa"}
    ).order


def test_a_mail_server_that_never_answers_costs_one_attempt_and_leaves_the_mail_to_a_retry(
    customer, pet, settings, silent_server
):
    order = place(customer, pet)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", silent_server, 1

    started = time.monotonic()
    with pytest.raises(OSError):  # a timeout: the task's autoretry_for=(OSError,) tries again later
        services.send_order_email(order_id=order.id, kind=EmailKind.CONFIRMATION)

    assert time.monotonic() - started < 5
    assert not OrderEmail.objects.filter(order=order).exists()  # not recorded: the retry sends it


def test_a_payment_gateway_that_never_answers_is_a_temporary_failure(customer, pet, settings, silent_server):
    order = place(customer, pet)
    cache_on(settings, silent_server)
    caches["default"]  # the test gateway's ledger, on a "Redis" that never answers

    started = time.monotonic()
    with pytest.raises(PaymentTemporarilyFailed):  # the task retries it with backoff
        services.charge_payment(order_id=order.id)

    assert time.monotonic() - started < 5
    assert Order.objects.get(id=order.id).payment_status == PaymentStatus.PENDING


def test_the_product_sets_a_deadline_on_every_outbound_connection():
    from petstore import settings as product

    assert 0 < product.EMAIL_TIMEOUT <= 30
    assert 0 < product.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] <= 30
    assert 0 < product.CACHES["default"]["OPTIONS"]["socket_timeout"] <= 30
    assert 0 < product.WEBHOOK_TIMEOUT <= 30


@pytest.fixture
def fresh_throttle_client():
    """The rate limiter keeps one Redis client per process, made from the settings on first use:
    made here from the silent server, it must not outlive this test."""
    throttling._redis.cache_clear()
    yield
    throttling._redis.cache_clear()


def test_cancelling_while_the_payment_gateway_never_answers_is_a_503_and_changes_nothing(
    customer, pet, settings, silent_server, fresh_throttle_client
):
    order = place(customer, pet)
    cache_on(settings, silent_server)  # the gateway is asked whether the pending payment was captured after all

    response = customer.client.post(f"/v1/orders/{order.id}/cancel")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/payment-gateway-unavailable"
    assert int(response["Retry-After"]) > 0
    order.refresh_from_db()
    pet.refresh_from_db()
    assert (order.status, order.payment_status, pet.stock) == ("placed", "pending", 4)
