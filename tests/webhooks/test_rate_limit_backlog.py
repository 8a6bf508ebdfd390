"""A rate-limited endpoint's backlog is spread at its rate: each delivery deferred by the limit is
due again shortly before its own slot, keeps that slot when claimed again early, and later
deliveries queue behind it. Real Redis (the limit's script), the product's claim and deferral."""

import itertools
import time

import pytest
import redis
from django.conf import settings

from webhooks import services
from webhooks.models import Delivery
from webhooks.pipeline import ratelimit, sending

pytestmark = pytest.mark.redis  # the limit's slots are Redis's

RATE, BACKLOG, AHEAD = 1, 50, 10.0  # the endpoint's next free slot is AHEAD s away (another worker's backlog)


def _due_in(deliveries) -> list[float]:
    """Seconds from now until each delivery is due, soonest first."""
    now = time.time()
    return sorted(delivery.next_attempt_at.timestamp() - now for delivery in deliveries)


@pytest.mark.django_db
def test_a_rate_limited_backlog_is_due_again_at_its_slots_not_all_at_once(customer):
    endpoint = services.create_endpoint(
        owner=customer.user, url="https://hooks.example.com/in", event_types=["*"], rate_limit=RATE
    )
    deliveries = [services.send_test_event(endpoint=endpoint) for _ in range(BACKLOG)]
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    seconds, micros = client.time()
    client.set(f"petstore:webhook-rate:{endpoint.id}", seconds * 1000 + micros // 1000 + AHEAD * 1000)

    assert sending.send_deliveries(delivery_ids=[delivery.id for delivery in deliveries]) == BACKLOG

    rows = Delivery.objects.filter(endpoint=endpoint)
    assert all(row.sending_until is None and row.queued_until is None and row.attempt_count == 0 for row in rows)
    due = _due_in(rows)
    gaps = [later - earlier for earlier, later in itertools.pairwise(due)]
    assert all(abs(gap - 1 / RATE) < 0.05 for gap in gaps), gaps  # one slot apart, at the endpoint's rate
    assert abs(due[0] - (AHEAD - ratelimit.LEAD)) < 1.0, due[0]  # due shortly before its slot
    assert abs(due[-1] - (AHEAD + (BACKLOG - 1) / RATE - ratelimit.LEAD)) < 1.0, due[-1]

    # Claimed again early (a replay, a sweep), each keeps its slot rather than going to the back.
    before = {row.id: row.next_attempt_at for row in rows}
    sending.send_deliveries(delivery_ids=list(before))
    after = {row.id: row.next_attempt_at for row in Delivery.objects.filter(endpoint=endpoint)}
    assert all(abs((after[key] - before[key]).total_seconds()) < 0.5 for key in before)

    # A delivery arriving now queues behind the whole backlog.
    late = services.send_test_event(endpoint=endpoint)
    sending.send_deliveries(delivery_ids=[late.id])
    (late_due,) = _due_in([Delivery.objects.get(id=late.id)])
    assert abs(late_due - (AHEAD + BACKLOG / RATE - ratelimit.LEAD)) < 1.0, late_due
