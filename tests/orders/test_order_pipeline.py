"""From POST /v1/orders to paid, stocked and e-mailed, on a real Celery worker and real Redis."""

import os
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller

from events.models import Event
from harness import Processes, free_port
from inventory.events import InventoryEvent
from orders.events import OrderEvent, PaymentEvent
from orders.models import Order
from tests.conftest import ROOT, eventually, order_body, worker_database_url

pytestmark = pytest.mark.worker


def wait_for_status(order_id, *statuses, timeout=30) -> Order:
    return eventually(
        lambda: Order.objects.filter(id=order_id, status__in=statuses).first(),
        timeout=timeout,
        message=f"order {order_id} to become {' or '.join(statuses)}",
    )


def count(order_id, event_type) -> int:
    return Event.objects.filter(subject=f"order/{order_id}", type=event_type).count()


@pytest.mark.sqlite_too
def test_paid_order_is_approved_stocked_mailed_and_completed_once(workers, customer, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet, 2), format="json").json()["id"]

    order = wait_for_status(order_id, "approved")
    eventually(lambda: count(order_id, OrderEvent.COMPLETED), message="order.completed")

    assert order.payment_status == "succeeded"
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (3, 0)
    assert workers.mails_for(order_id) == 1
    assert "Your Petstore order is confirmed" in workers.sent_mail()
    assert count(order_id, OrderEvent.COMPLETED) == 1
    assert Event.objects.filter(type=InventoryEvent.UPDATED, subject=f"pet/{pet.id}").count() == 2  # created, sold
    assert customer.client.get(f"/v1/orders/{order_id}").json()["status"] == "approved"


@pytest.mark.sqlite_too
def test_declined_payment_cancels_returns_stock_and_mails_cancellation(workers, customer, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet, 2, token="tok_chargeDeclined"), format="json").json()[
        "id"
    ]

    order = wait_for_status(order_id, "cancelled")

    assert (order.payment_status, order.cancel_reason) == ("failed", "payment_failed")
    pet.refresh_from_db()
    assert (pet.stock, pet.reserved) == (5, 0)
    eventually(lambda: workers.mails_for(order_id) == 1, message="the cancellation mail")
    assert "was cancelled" in workers.sent_mail()
    assert count(order_id, PaymentEvent.FAILED) == 1
    assert count(order_id, OrderEvent.COMPLETED) == 0


def test_processing_error_is_retried_then_charged_once(workers, customer, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet, token="tok_processingError"), format="json").json()[
        "id"
    ]

    order = wait_for_status(order_id, "approved", timeout=60)

    assert order.payment_status == "succeeded"
    assert count(order_id, PaymentEvent.SUCCEEDED) == 1
    eventually(lambda: count(order_id, OrderEvent.COMPLETED), message="order.completed")
    assert workers.log.read_text().count("Retry in") >= 2


def test_shipping_sends_the_shipping_mail(workers, customer, staff, pet):
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    wait_for_status(order_id, "approved")
    staff.client.post(f"/v1/orders/{order_id}/ship")
    eventually(lambda: "Your Petstore order is on its way" in workers.sent_mail(), message="the shipping mail")


@pytest.mark.slow
def test_a_confirmation_the_mail_server_refused_goes_once_it_answers(
    worker_processes, worker_env, transactional_db, tmp_path, customer, pet
):
    """The mail server is down as the payment commits: the payment stands, the confirmation is
    queued and tried again by the worker, and goes once the server answers, once."""
    worker_processes.stop()  # this test's worker mails over SMTP, to a server that is not there yet
    port = free_port()
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1"}
    processes = Processes(env={**worker_env, **smtp, "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "2"}, logs=tmp_path)
    (worker,) = processes.start_workers()
    try:
        order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]

        order = wait_for_status(order_id, "approved")
        eventually(
            lambda: "could not be sent after its payment" in processes.log(worker).read_text(),
            message="the confirmation refused by the mail server, and queued",
        )
        assert order.payment_status == "succeeded" and count(order_id, OrderEvent.COMPLETED) == 0

        with Inbox(port) as inbox:
            eventually(lambda: count(order_id, OrderEvent.COMPLETED), timeout=60, message="order.completed")
            assert inbox.mails_for(order_id) == 1
            assert count(order_id, PaymentEvent.SUCCEEDED) == 1
    finally:
        processes.stop_all()


class Inbox:
    """A real SMTP server on loopback (aiosmtpd), keeping what it is sent."""

    def __init__(self, port: int):
        self.messages: list[bytes] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"

    def mails_for(self, order_id: str) -> int:
        return sum(f"X-Petstore-Order: {order_id}".encode() in message for message in self.messages)

    def __enter__(self) -> "Inbox":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


@pytest.mark.slow
def test_with_the_broker_down_orders_are_accepted_and_relayed_later(workers, customer, pet):
    """The outbox: the request succeeds without a broker; the relay dispatches the event after."""
    script = (
        "import django, json; django.setup();"
        "from rest_framework.test import APIClient;"
        f"c = APIClient(); c.credentials(HTTP_AUTHORIZATION='Bearer {customer.key}');"
        f"r = c.post('/v1/orders', {order_body(pet)!r}, format='json');"
        "print(r.status_code, r.json()['id'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env_without_broker(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status, order_id = result.stdout.split()[-2:]
    assert status == "201"
    assert "stays in the outbox" in result.stderr
    assert Event.objects.get(subject=f"order/{order_id}", type=OrderEvent.CREATED).dispatched_at is None

    # Nobody enqueues anything by hand: beat's outbox relay finds the event and the worker pays.
    wait_for_status(order_id, "approved", timeout=40)
    eventually(lambda: count(order_id, OrderEvent.COMPLETED), message="order.completed")
    assert Event.objects.get(subject=f"order/{order_id}", type=OrderEvent.CREATED).dispatched_at is not None


def env_without_broker() -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    }
