"""The admin pages staff use, through Django's test client."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import encryption
from events.models import Event
from orders import services as orders
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint
from webhooks.services import send_test_event

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


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
    orders.charge_payment(order_id=order.id)
    page = admin_client.get(f"/admin/orders/order/{order.id}/change/").content.decode()
    assert "order.created" in page and "payment.succeeded" in page and "placed → approved" in page
    assert admin_client.get("/admin/events/event/").status_code == 200
    assert admin_client.get(f"/admin/events/event/{Event.objects.first().id}/change/").status_code == 200
    assert admin_client.get("/admin/inventory/pet/").status_code == 200
    assert admin_client.get("/admin/django_celery_beat/periodictask/").status_code == 200


def failed_deliveries_with_attempts(owner, count: int, *, endpoints: int = 3) -> list[Endpoint]:
    """`count` failed deliveries over a few endpoints, each with three attempts; the last said 503."""
    targets = [
        Endpoint.objects.create(owner=owner, url=f"http://127.0.0.1:9/hook{n}", event_types=["*"], secret="whsec_x")
        for n in range(endpoints)
    ]
    for n in range(count):
        delivery = send_test_event(endpoint=targets[n % endpoints])
        Delivery.objects.filter(id=delivery.id).update(status=DeliveryStatus.FAILED, attempt_count=3)
        for second, status, error in ((1, None, "could not connect"), (2, 500, ""), (3, 503, "")):
            Attempt.objects.create(
                delivery=delivery,
                attempted_at=timezone.now() + timedelta(seconds=second),
                response_status=status,
                duration_ms=5,
                error=error,
            )
    return targets


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_failed_deliveries_show_why_and_their_endpoints_health_in_bounded_queries(admin_client, customer):
    failing, waiting, _ = failed_deliveries_with_attempts(customer.user, 3)
    Endpoint.objects.filter(id=failing.id).update(failing_since=timezone.now() - timedelta(hours=2))
    pending = send_test_event(endpoint=waiting)
    next_attempt = timezone.now() + timedelta(minutes=5)
    Delivery.objects.filter(id=pending.id).update(next_attempt_at=next_attempt)

    page = admin_client.get("/admin/webhooks/faileddelivery/").content.decode()
    assert page.count('<td class="field-last_response">503 at ') == 3
    assert "could not connect" not in page  # the last attempt's words, not an earlier one's
    assert page.count("failing since") == 1
    assert f"healthy; next attempt {next_attempt:%Y-%m-%d %H:%M:%S} UTC" in page  # the waiting endpoint

    few = queries_for(admin_client, "/admin/webhooks/faileddelivery/")
    failed_deliveries_with_attempts(customer.user, 30, endpoints=6)
    assert queries_for(admin_client, "/admin/webhooks/faileddelivery/") == few  # none per row
    assert queries_for(admin_client, "/admin/webhooks/delivery/") <= few + 2


def test_the_endpoint_page_shows_its_health_and_latest_deliveries_in_bounded_queries(admin_client, customer):
    (endpoint,) = failed_deliveries_with_attempts(customer.user, 2, endpoints=1)
    Endpoint.objects.filter(id=endpoint.id).update(
        is_active=False, disabled_reason="gone", failing_since=timezone.now() - timedelta(days=1)
    )
    url = f"/admin/webhooks/endpoint/{endpoint.id}/change/"

    page = admin_client.get(url).content.decode()
    assert "disabled: the receiver answered 410 Gone" in page
    assert page.count("<td>503</td>") == 2 and "webhook.test" in page
    assert f"?endpoint__id__exact={endpoint.id}" in page

    few = queries_for(admin_client, url)
    for _ in range(20):
        delivery = send_test_event(endpoint=endpoint)
        Attempt.objects.create(delivery=delivery, attempted_at=timezone.now(), response_status=500, duration_ms=5)
    page = admin_client.get(url).content.decode()
    assert page.count("<td>500</td>") == 10  # the latest ten, not every delivery it ever had
    assert queries_for(admin_client, url) == few
    assert queries_for(admin_client, "/admin/webhooks/endpoint/") <= few


def test_each_state_change_in_the_admin_gives_one_operational_event(admin_client, customer):
    endpoint = Endpoint.objects.create(owner=customer.user, url=URL, event_types=["*"], secret="whsec_x")
    changes = Event.objects.filter(subject=f"endpoint/{endpoint.id}").order_by("id")

    for action in ("disable", "disable", "enable", "enable"):  # the second of each changes nothing
        admin_client.post("/admin/webhooks/endpoint/", {"action": action, "_selected_action": [str(endpoint.id)]})
    form = {
        "owner": customer.user.id,
        "url": URL,
        "description": "",
        "event_types": '["*"]',
        "all_customers": "",
        "ordering": "none",
        "rate_limit": "",
    }
    response = admin_client.post(f"/admin/webhooks/endpoint/{endpoint.id}/change/", form)  # is_active unticked
    assert response.status_code == 302
    admin_client.post(f"/admin/webhooks/endpoint/{endpoint.id}/change/", {**form, "description": "still off"})

    assert [(event.type, event.data["endpoint"]["disabled_reason"]) for event in changes] == [
        ("endpoint.disabled", "manual"),
        ("endpoint.enabled", ""),
        ("endpoint.disabled", "manual"),
    ]
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.description) == (False, "still off")
    assert changes.first().owner_id == customer.user.id


@pytest.mark.parametrize("event_types", ["[null]", '["order.*", 7]', '"order.*"', '["no.such.type"]', "[]"])
def test_the_endpoint_form_refuses_event_types_the_fan_out_cannot_read(admin_client, customer, event_types):
    endpoint = Endpoint.objects.create(owner=customer.user, url=URL, event_types=["*"], secret="whsec_x")
    form = {"owner": customer.user.id, "url": URL, "description": "", "event_types": event_types, "ordering": "none"}

    response = admin_client.post(f"/admin/webhooks/endpoint/{endpoint.id}/change/", {**form, "is_active": "on"})

    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["event_types"]
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["*"]


def test_view_only_staff_can_neither_disable_nor_rotate_nor_test(customer):
    endpoint = Endpoint.objects.create(owner=customer.user, url=URL, event_types=["*"], secret="whsec_x")
    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_endpoint"))
    client = Client()
    client.login(username="viewer", password="pw")
    assert client.get("/admin/webhooks/endpoint/").status_code == 200

    for action in ("disable", "rotate_secret", "send_test"):
        client.post("/admin/webhooks/endpoint/", {"action": action, "_selected_action": [str(endpoint.id)]})

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.secret, endpoint.deliveries.count()) == (True, "whsec_x", 0)


def test_the_delivery_and_endpoint_lists_decrypt_no_secret(admin_client, customer, monkeypatch):
    failed_deliveries_with_attempts(customer.user, 6)
    decrypted = []
    real_decrypt = encryption.decrypt
    monkeypatch.setattr(encryption, "decrypt", lambda token: decrypted.append(token) or real_decrypt(token))

    for page in ("/admin/webhooks/delivery/", "/admin/webhooks/faileddelivery/", "/admin/webhooks/endpoint/"):
        assert admin_client.get(page).status_code == 200

    assert decrypted == []


def test_a_delivery_with_thousands_of_attempts_shows_the_latest_few(admin_client, customer):
    (endpoint,) = failed_deliveries_with_attempts(customer.user, 1, endpoints=1)
    delivery = endpoint.deliveries.get()
    start = timezone.now() + timedelta(minutes=1)
    Attempt.objects.bulk_create(
        Attempt(
            delivery=delivery, attempted_at=start + timedelta(seconds=n), response_status=500 + n % 2, duration_ms=n
        )
        for n in range(2000)
    )

    page = admin_client.get(f"/admin/webhooks/delivery/{delivery.id}/change/").content.decode()
    listed = customer.client.get(f"/v1/webhooks/{endpoint.id}/deliveries").json()["results"][0]

    assert page.count('<td class="field-duration_ms">') == 20
    assert "<p>1999</p>" in page and "<p>1980</p>" in page and "<p>1979</p>" not in page  # the newest
    assert [attempt["duration_ms"] for attempt in listed["attempts"]] == list(range(1980, 2000))  # oldest first


def test_view_only_staff_cannot_retry_failed_deliveries(failed_delivery):
    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_delivery", "view_faileddelivery"]))
    client = Client()
    client.login(username="viewer", password="pw")
    assert client.get("/admin/webhooks/faileddelivery/").status_code == 200

    for page in ("/admin/webhooks/faileddelivery/", "/admin/webhooks/delivery/"):
        client.post(page, {"action": "retry", "_selected_action": [str(failed_delivery.id)]})

    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.FAILED
