"""Delivery services called directly, against a real HTTP receiver on loopback."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from events.models import Event
from orders.events import OrderEvent
from orders.services import place_order
from tests.sending import send_here
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.pipeline import fanout, recording, sending, transport
from webhooks.pipeline.inflight import Request, Result

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(customer, httpserver) -> Endpoint:
    return services.create_endpoint(owner=customer.user, url=httpserver.url_for("/hook"), event_types=["*"])


def new_delivery(endpoint: Endpoint) -> Delivery:
    return services.send_test_event(endpoint=endpoint)


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_owner_told(
    endpoint, httpserver, mailoutbox, settings, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/hook").respond_with_data("broken", status=500)
    Endpoint.objects.filter(id=endpoint.id).update(
        failing_since=timezone.now() - settings.WEBHOOK_DISABLE_AFTER - timedelta(minutes=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        send_here([new_delivery(endpoint).id])

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, "failing")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [endpoint.owner.email]
    assert endpoint.url in mailoutbox[0].body
    (event,) = Event.objects.filter(type="endpoint.disabled")
    redacted = httpserver.url_for("/…")  # staff receive it: the host, not the path (it may hold a token)
    assert event.data == {"endpoint": {"id": str(endpoint.id), "url": redacted, "disabled_reason": "failing"}}
    assert (event.subject, event.owner_id) == (f"endpoint/{endpoint.id}", endpoint.owner_id)


def test_410s_in_flight_together_disable_the_endpoint_once(endpoint, httpserver):
    httpserver.expect_request("/hook").respond_with_data(status=410)
    first, second = new_delivery(endpoint), new_delivery(endpoint)
    claimed = sending.claim([first.id, second.id])  # both in flight when the endpoint is disabled

    for delivery in claimed:  # recorded in two batches, as two recorders would
        send_here_claimed([delivery])

    assert Event.objects.filter(type="endpoint.disabled").count() == 1
    assert not Event.objects.filter(type="delivery.exhausted").exists()  # a 410 is not an exhausted schedule


def test_a_delivery_spending_its_schedule_gives_one_delivery_exhausted(endpoint, httpserver, settings):
    httpserver.expect_request("/hook").respond_with_data(status=500)
    delivery = new_delivery(endpoint)

    for _ in range(1 + len(settings.WEBHOOK_RETRY_SCHEDULE)):  # the first try and every retry
        send_here([delivery.id])

    assert Delivery.objects.get(id=delivery.id).status == DeliveryStatus.FAILED
    (event,) = Event.objects.filter(type="delivery.exhausted")
    assert event.data["delivery"] == {
        "id": str(delivery.id),
        "endpoint_id": str(endpoint.id),
        "event_id": str(delivery.event_id),
        "event_type": "webhook.test",
        "attempts": 3,
    }


def test_an_exhausted_operational_delivery_gives_none(customer, endpoint, httpserver, settings):
    httpserver.expect_request("/hook").respond_with_data(status=500)
    other = services.create_endpoint(owner=customer.user, url=httpserver.url_for("/other"), event_types=["*"])
    services.set_endpoint_active(endpoint=other, active=False)
    notice = Event.objects.get(type="endpoint.disabled")
    fanout.fan_out(events=[notice], send_here=False)
    (delivery,) = Delivery.objects.filter(event=notice)
    assert delivery.endpoint_id == endpoint.id  # not the disabled one it is about

    for _ in range(1 + len(settings.WEBHOOK_RETRY_SCHEDULE)):  # the first try and every retry
        send_here([delivery.id])

    assert Delivery.objects.get(id=delivery.id).status == DeliveryStatus.FAILED
    assert not Event.objects.filter(type="delivery.exhausted").exists()


def send_here_claimed(deliveries) -> None:
    results = [
        Result(request, transport.post(url=request.url, body=request.body, headers=request.headers), timezone.now())
        for request in sending.signed_requests(deliveries)
    ]
    recording.record_attempts(results)


def test_a_recent_failure_keeps_the_endpoint_and_a_success_clears_it(endpoint, httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data(status=500)
    httpserver.expect_request("/hook").respond_with_data(status=200)
    delivery = new_delivery(endpoint)

    send_here([delivery.id])
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None

    send_here([delivery.id])
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert Delivery.objects.get(id=delivery.id).status == DeliveryStatus.SUCCEEDED


def test_a_delivery_being_sent_is_not_sent_again(endpoint, httpserver):
    httpserver.expect_request("/hook").respond_with_data(status=200)
    delivery = new_delivery(endpoint)
    Delivery.objects.filter(id=delivery.id).update(sending_until=timezone.now() + timedelta(minutes=1))

    assert send_here([delivery.id]) == []
    assert httpserver.log == []


def test_a_delivery_to_a_disabled_endpoint_fails_without_a_request(endpoint, httpserver):
    services.set_endpoint_active(endpoint=endpoint, active=False)
    delivery = new_delivery(endpoint)

    send_here([delivery.id])

    assert Delivery.objects.get(id=delivery.id).status == DeliveryStatus.FAILED
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("attempts", "retry_after", "low", "high"),
    [(1, None, 4.5, 5.5), (2, None, 270, 330), (1, 60, 60, 60), (8, None, None, None)],
)
def test_retry_delays_follow_the_schedule_with_jitter(attempts, retry_after, low, high, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]
    delay = recording.next_retry_delay(scheduled_attempts=attempts, retry_after=retry_after)
    if low is None:
        assert delay is None
    else:
        assert low <= delay <= high


def test_fan_out_creates_one_delivery_per_subscribed_endpoint_once(customer, make_customer, httpserver, pet):
    other = make_customer()
    wanted = services.create_endpoint(owner=customer.user, url=httpserver.url_for("/a"), event_types=["order.*"])
    services.create_endpoint(owner=customer.user, url=httpserver.url_for("/b"), event_types=["payment.*"])
    services.create_endpoint(owner=other.user, url=httpserver.url_for("/c"), event_types=["*"])
    order = place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 1}], payment={"method": "card", "token": "tok_visa"}
    ).order
    event = Event.objects.get(subject=f"order/{order.id}", type=OrderEvent.CREATED)

    assert fanout.fan_out(events=[event], send_here=False) == 1
    fanout.fan_out(events=[event], send_here=False)  # dispatched twice by the relay: still one delivery
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [wanted.id]


@pytest.mark.django_db(transaction=True)  # real commits: foreign keys are checked at commit
def test_an_attempt_whose_delivery_was_deleted_meanwhile_does_not_cost_the_others_theirs(customer, httpserver):
    kept, removed = (
        services.create_endpoint(owner=customer.user, url=httpserver.url_for(path), event_types=["*"])
        for path in ("/kept", "/removed")
    )
    with mock.patch("webhooks.pipeline.handoff.send"):  # sent by hand below, not by a worker
        created = [services.send_test_event(endpoint=endpoint).id for endpoint in (kept, removed)]
    claimed = sending.claim(created)
    ok = transport.Response(status=204, body="", error="", duration_ms=3, retry_after=None)
    results = [
        Result(
            Request(delivery.endpoint_id, delivery.endpoint.owner_id, delivery.endpoint.url, b"{}", {}, delivery),
            ok,
            timezone.now(),
        )
        for delivery in claimed
    ]
    removed.delete()  # its delivery goes with it, while "in flight"

    recording.record_attempts(results)

    (delivery,) = Delivery.objects.all()
    assert (delivery.endpoint_id, delivery.status, delivery.attempts.count()) == (kept.id, "succeeded", 1)
