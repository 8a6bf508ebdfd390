"""The admin pages staff use, through Django's test client."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from events.models import Event
from orders import services as orders
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.services import send_test_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.login(username="boss", password="pw")
    return client


@pytest.fixture
def failed_delivery(customer) -> Delivery:
    endpoint = Endpoint.objects.create(
        owner=customer.user,
        url="http://127.0.0.1:9/hook",
        event_types=["*"],
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    delivery = send_test_event(endpoint=endpoint)
    Delivery.objects.filter(id=delivery.id).update(status=DeliveryStatus.FAILED, attempt_count=8)
    return Delivery.objects.get(id=delivery.id)


def test_admin_needs_a_staff_login(customer):
    assert Client().get("/admin/webhooks/faileddelivery/").status_code == 302


def test_failed_deliveries_list_and_retry_action(admin_client, failed_delivery, django_capture_on_commit_callbacks):
    page = admin_client.get("/admin/webhooks/faileddelivery/")
    assert page.status_code == 200
    assert str(failed_delivery.id) in page.content.decode()

    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            "/admin/webhooks/faileddelivery/",
            {"action": "retry", "_selected_action": [str(failed_delivery.id)]},
            follow=True,
        )
    assert "Queued 1 deliveries to be sent again." in response.content.decode()
    assert len(callbacks) == 1
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.PENDING
    assert str(failed_delivery.id) not in admin_client.get("/admin/webhooks/faileddelivery/").content.decode()


def test_endpoint_page_never_shows_the_whole_secret(admin_client, failed_delivery):
    page = admin_client.get(f"/admin/webhooks/endpoint/{failed_delivery.endpoint_id}/change/").content.decode()
    assert "whsec_MfKQ…" in page
    assert failed_delivery.endpoint.secret not in page


def test_disable_and_enable_actions(admin_client, failed_delivery):
    endpoint = failed_delivery.endpoint
    admin_client.post("/admin/webhooks/endpoint/", {"action": "disable", "_selected_action": [str(endpoint.id)]})
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    admin_client.post("/admin/webhooks/endpoint/", {"action": "enable", "_selected_action": [str(endpoint.id)]})
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_order_page_shows_its_timeline(admin_client, customer, pet):
    order = orders.place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 1}], payment={"method": "card", "token": "tok_visa"}
    ).order
    orders.capture_payment(order_id=order.id)
    page = admin_client.get(f"/admin/orders/order/{order.id}/change/").content.decode()
    assert "order.created" in page and "payment.succeeded" in page and "placed → approved" in page
    assert admin_client.get("/admin/events/event/").status_code == 200
    assert admin_client.get(f"/admin/events/event/{Event.objects.first().id}/change/").status_code == 200
    assert admin_client.get("/admin/inventory/pet/").status_code == 200
    assert admin_client.get("/admin/django_celery_beat/periodictask/").status_code == 200
