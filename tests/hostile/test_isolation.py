"""A hostile customer beside a healthy one, on the session's real worker: the hostile customer's
dozen receivers trickle (a body, or every byte), yet the healthy customer's deliveries arrive within seconds, and
every attempt of both is recorded exactly once."""

import time

import pytest
from django.db.models import Count, F, Q, Sum

from tests.conftest import eventually
from tests.hostile import receivers
from webhooks.models import Delivery

pytestmark = pytest.mark.worker

HOSTILE_ENDPOINTS = 12
EVENTS_EACH = 6  # 72 deliveries that each hold a thread as long as they are let: more than the sender has


def subscribe(who, url: str, events=("*",)) -> str:
    response = who.client.post("/v1/webhooks", {"url": url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


@pytest.mark.slow
def test_a_hostile_customers_receivers_never_hold_up_another_customer(workers, make_customer, hostile, settings):
    villain, victim = make_customer(), make_customer()
    behaviours = [receivers.trickle_body, receivers.trickle_everything]
    hostile_receivers = [hostile(behaviours[n % 2]) for n in range(HOSTILE_ENDPOINTS)]
    healthy = hostile(receivers.body(b"thanks"))
    # Subscribed to order events only: no operational event (`delivery.exhausted`, told to the
    # villain's other endpoints) adds to the deliveries this test counts.
    hostile_ids = [subscribe(villain, receiver.url(), events=["order.*"]) for receiver in hostile_receivers]
    healthy_id = subscribe(victim, healthy.url())

    for _ in range(EVENTS_EACH):
        for endpoint_id in hostile_ids:
            villain.client.post(f"/v1/webhooks/{endpoint_id}/test")
    share = int(settings.WEBHOOK_CONCURRENCY * settings.WEBHOOK_OWNER_SHARE)
    eventually(
        lambda: sum(len(receiver.requests) for receiver in hostile_receivers) >= share,
        message="the hostile customer's share of the sender taken",
    )

    started = time.monotonic()
    for _ in range(3):
        victim.client.post(f"/v1/webhooks/{healthy_id}/test")
    eventually(lambda: len(healthy.requests) == 3, timeout=30, message="the healthy customer's deliveries")
    took = time.monotonic() - started
    assert took < 3, f"the healthy customer's deliveries took {took:.1f} s"

    # Every hostile delivery gets its first attempt, each within the timeout, however they answer.
    eventually(
        lambda: not Delivery.objects.filter(endpoint_id__in=hostile_ids, attempt_count=0).exists(),
        timeout=120,
        message=lambda: f"{Delivery.objects.filter(attempt_count=0).count()} hostile deliveries still unattempted",
    )
    for endpoint_id in hostile_ids:  # then stop them, and let what is in flight come back
        villain.client.patch(f"/v1/webhooks/{endpoint_id}", {"is_active": False}, format="json")
    time.sleep(settings.WEBHOOK_TIMEOUT + 3)

    deliveries = Delivery.objects.annotate(recorded=Count("attempts"))
    assert not deliveries.filter(~Q(recorded=F("attempt_count"))).exists(), "an attempt lost or written twice"
    assert deliveries.filter(endpoint_id=healthy_id, status="succeeded", attempt_count=1).count() == 3
    attempted = deliveries.filter(endpoint_id__in=hostile_ids).aggregate(total=Sum("attempt_count"))["total"]
    assert attempted == sum(len(receiver.requests) for receiver in hostile_receivers), "sent and recorded differ"
    slowest = max(attempt.duration_ms for delivery in deliveries for attempt in delivery.attempts.all())
    assert slowest <= settings.WEBHOOK_TIMEOUT * 1000 + 500
