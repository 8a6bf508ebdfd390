"""Pruning: what aged past its retention goes, a batch at a time; what is still needed stays."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events import tasks as event_tasks
from events.models import Event
from orders import tasks as order_tasks
from orders.models import IdempotencyKey
from orders.services import place_order
from webhooks import services
from webhooks import tasks as webhook_tasks
from webhooks.models import Attempt, Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(days=365)


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.PRUNE_BATCH_SIZE = 2  # several batches for a few rows: the loop is exercised


def test_old_attempts_and_succeeded_deliveries_go_failed_deliveries_and_new_rows_stay(customer):
    endpoint = services.create_endpoint(owner=customer.user, url="http://127.0.0.1:9/hook", event_types=["*"])
    deliveries = [services.send_test_event(endpoint=endpoint) for _ in range(6)]
    old, failed, new = deliveries[:3], deliveries[3:5], deliveries[5]
    for delivery in deliveries:
        Attempt.objects.create(delivery=delivery, attempted_at=timezone.now() - LONG_AGO, duration_ms=1)
    Attempt.objects.create(delivery=new, attempted_at=timezone.now(), duration_ms=1)
    Delivery.objects.filter(id__in=[d.id for d in old]).update(status=DeliveryStatus.SUCCEEDED)
    Delivery.objects.filter(id__in=[d.id for d in failed]).update(status=DeliveryStatus.FAILED)
    Delivery.objects.filter(id__in=[d.id for d in old + failed]).update(updated_at=timezone.now() - LONG_AGO)

    assert webhook_tasks.prune_attempts() == 6
    assert webhook_tasks.prune_deliveries() == 3

    assert set(Delivery.objects.values_list("id", flat=True)) == {d.id for d in [*failed, new]}
    assert Attempt.objects.count() == 1


def test_old_dispatched_events_without_deliveries_go(customer, pet):
    order = place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 1}], payment={"method": "card", "token": "tok_visa"}
    ).order
    endpoint = services.create_endpoint(owner=customer.user, url="http://127.0.0.1:9/hook", event_types=["*"])
    referenced = services.send_test_event(endpoint=endpoint).event
    Event.objects.update(created_at=timezone.now() - LONG_AGO, dispatched_at=timezone.now())
    undispatched = Event.objects.filter(subject=f"order/{order.id}").first()
    Event.objects.filter(id=undispatched.id).update(dispatched_at=None)

    pruned = event_tasks.prune_events()

    assert set(Event.objects.values_list("id", flat=True)) == {referenced.id, undispatched.id}
    assert pruned == 2  # the pet's inventory.updated: when it was created, and when the order reserved it


def test_expired_idempotency_keys_go(customer, pet, settings):
    for key in ("a", "b", "c"):
        place_order(
            user=customer.user,
            items=[{"pet_id": pet.id, "quantity": 1}],
            payment={"method": "card", "token": "tok_visa"},
            idempotency_key=key,
        )
    IdempotencyKey.objects.exclude(key="c").update(created_at=timezone.now() - settings.IDEMPOTENCY_KEY_TTL * 2)

    assert order_tasks.prune_idempotency_keys() == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["c"]


def test_old_test_events_go_with_their_deliveries_whatever_their_outcome(customer, pet):
    endpoint = services.create_endpoint(owner=customer.user, url="http://127.0.0.1:9/hook", event_types=["*"])
    old_tests = [services.send_test_event(endpoint=endpoint) for _ in range(3)]
    recent_test = services.send_test_event(endpoint=endpoint)
    order = place_order(
        user=customer.user, items=[{"pet_id": pet.id, "quantity": 1}], payment={"method": "card", "token": "tok_visa"}
    ).order
    order_event = Event.objects.filter(subject=f"order/{order.id}").first()
    replayable = Delivery.objects.create(endpoint=endpoint, event=order_event, status=DeliveryStatus.FAILED)
    for delivery in [*old_tests, recent_test, replayable]:
        Attempt.objects.create(delivery=delivery, attempted_at=timezone.now(), duration_ms=1)
    Delivery.objects.filter(id__in=[d.id for d in old_tests]).update(status=DeliveryStatus.FAILED)
    Event.objects.filter(id__in=[d.event_id for d in old_tests] + [order_event.id]).update(
        created_at=timezone.now() - LONG_AGO
    )

    webhook_tasks.prune_deliveries()

    assert not Event.objects.filter(id__in=[d.event_id for d in old_tests]).exists()
    assert set(Delivery.objects.values_list("id", flat=True)) == {recent_test.id, replayable.id}
    assert Attempt.objects.count() == 2
