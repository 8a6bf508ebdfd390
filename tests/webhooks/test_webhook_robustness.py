"""A webhook problem never undoes a payment: an endpoint stored with event types the fan-out cannot
read, or with a secret no configured key decrypts, costs its own deliveries at most, never an
order's progress nor another endpoint's events."""

import uuid

import pytest
from cryptography.fernet import Fernet
from django.db import connection, transaction
from django.utils import timezone

from events.models import Event
from tests.conftest import eventually, order_body
from webhooks import receivers, tasks
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.pipeline import fanout


def subscribe(who, receiver, path: str) -> dict:
    response = who.client.post("/v1/webhooks", {"url": receiver.url_for(path), "events": ["*"]}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def paid(customer, order_id: str) -> bool:
    return customer.client.get(f"/v1/orders/{order_id}").json()["payment_status"] == "succeeded"


def types_at(receiver, path: str) -> set[str]:
    return {request.get_json()["type"] for request, _ in list(receiver.log) if request.path == path}


@pytest.mark.sqlite_too
def test_an_endpoint_stored_with_unreadable_event_types_stops_no_payment_and_no_other_endpoint(
    workers, customer, receiver, pet
):
    receiver.expect_request("/bad").respond_with_data(status=204)
    receiver.expect_request("/good").respond_with_data(status=204)
    bad = subscribe(customer, receiver, "/bad")
    subscribe(customer, receiver, "/good")
    Endpoint.objects.filter(id=bad["id"]).update(event_types=[None])  # behind the validation's back

    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]

    eventually(lambda: paid(customer, order_id), message="the order to be paid")
    eventually(lambda: {"payment.succeeded", "order.completed"} <= types_at(receiver, "/good"), message="events")
    assert customer.client.get(f"/v1/orders/{order_id}").json()["status"] == "approved"
    assert types_at(receiver, "/bad") == set()


@pytest.mark.django_db
def test_a_failing_fan_out_is_rolled_back_alone_and_tried_again_after_the_commit(
    customer, monkeypatch, django_capture_on_commit_callbacks
):
    def broken_fan_out(*, events, **kwargs):
        Event.objects.filter(id__in=[event.id for event in events]).delete()  # a write, to be undone
        raise RuntimeError("a bug in the fan-out")

    queued = []
    monkeypatch.setattr(receivers.fanout, "fan_out", broken_fan_out)
    monkeypatch.setattr(tasks.fan_out_again, "delay", queued.append)
    endpoint_id = str(uuid.uuid4())
    data = {"endpoint_id": endpoint_id, "message": "hello"}
    event = Event.objects.create(
        type="webhook.test", subject=f"endpoint/{endpoint_id}", data=data, owner=customer.user, sequence=1
    )

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        receivers.deliver_to_subscribers(sender=Event, events=[event])  # raises nothing

    assert Event.objects.filter(id=event.id).exists()  # the fan-out's own writes were rolled back
    assert queued == [[str(event.id)]]


@pytest.mark.django_db
def test_a_first_fan_out_that_meets_deliveries_already_made_is_rolled_back_alone_and_tried_again(
    customer, pet, httpserver, monkeypatch, django_capture_on_commit_callbacks
):
    # A dispatch takes each event once, so its fan-out inserts without a savepoint of its own. Were
    # an event's deliveries there all the same, the receiver's savepoint catches it, as any failure.
    customer.client.post("/v1/webhooks", {"url": httpserver.url_for("/a"), "events": ["order.*"]}, format="json")
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    event = Event.objects.get(subject=f"order/{order_id}", type="order.created")
    fanout.fan_out(events=[event], send_here=False)  # made already
    queued = []
    monkeypatch.setattr(tasks.fan_out_again, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        receivers.deliver_to_subscribers(sender=Event, events=[event])  # raises nothing
        Event.objects.filter(id=event.id).update(dispatched_at=timezone.now())  # the dispatch goes on

    assert Delivery.objects.filter(event=event).count() == 1
    assert Event.objects.get(id=event.id).dispatched_at is not None
    assert queued == [[str(event.id)]]
    assert tasks.fan_out_again(queued[0]) == 0  # which finds the delivery made and adds none
    assert Delivery.objects.filter(event=event).count() == 1


@pytest.mark.sqlite_too
def test_an_endpoint_whose_secret_no_key_decrypts_fails_its_deliveries_saying_why_and_nothing_else(
    workers, customer, receiver, pet
):
    receiver.expect_request("/unreadable").respond_with_data(status=204)
    receiver.expect_request("/good").respond_with_data(status=204)
    unreadable = subscribe(customer, receiver, "/unreadable")
    subscribe(customer, receiver, "/good")
    with connection.cursor() as cursor:  # encrypted with a key the worker does not have (SECRET_KEY changed)
        token = Fernet(Fernet.generate_key()).encrypt(b"whsec_c2VjcmV0").decode()
        stored_id = uuid.UUID(unreadable["id"]).hex
        cursor.execute("UPDATE webhooks_endpoint SET secret = %s WHERE id = %s", [token, stored_id])

    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]

    eventually(lambda: paid(customer, order_id), message="the order to be paid")
    eventually(lambda: {"payment.succeeded", "order.completed"} <= types_at(receiver, "/good"), message="events")
    attempt = eventually(
        lambda: Attempt.objects.filter(delivery__endpoint_id=unreadable["id"]).first(), message="a failed attempt"
    )
    assert "signing secret cannot be decrypted" in attempt.error and attempt.response_status is None
    assert types_at(receiver, "/unreadable") == set()
    listed = customer.client.get(f"/v1/webhooks/{unreadable['id']}/deliveries").json()["results"]
    assert any("rotate the secret" in item["attempts"][0]["error"] for item in listed if item["attempts"])
