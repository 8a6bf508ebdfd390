"""Unit tests of per-subject ordering (`webhooks.pipeline.ordering`): who waits in a line, and who
goes next once a delivery settles, read from rows written here (no worker, no Redis)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.pipeline import ordering

pytestmark = pytest.mark.django_db

SUBJECT = "endpoint/0193-ordering"
OTHER_SUBJECT = "endpoint/0193-other"


@pytest.fixture
def ordered(customer) -> Endpoint:
    return services.create_endpoint(
        owner=customer.user, url="https://receiver.test/hook", event_types=["*"], ordering=Endpoint.Ordering.PER_SUBJECT
    )


@pytest.fixture
def second_ordered(customer) -> Endpoint:
    return services.create_endpoint(
        owner=customer.user, url="https://other.test/hook", event_types=["*"], ordering=Endpoint.Ordering.PER_SUBJECT
    )


def event(sequence: int, *, subject: str = SUBJECT, dispatched: bool = True) -> Event:
    return Event.objects.create(
        type="webhook.test",
        subject=subject,
        sequence=sequence,
        data={"endpoint_id": "1", "message": f"number {sequence}"},
        dispatched_at=timezone.now() if dispatched else None,
    )


def delivery(
    endpoint: Endpoint, sequence: int, *, subject: str = SUBJECT, of: Event | None = None, **fields
) -> Delivery:
    """A delivery of event `sequence` of `subject` (a new event, unless `of` names it)."""
    return Delivery.objects.create(
        endpoint=endpoint,
        event=of or event(sequence, subject=subject),
        subject=subject,
        sequence=sequence,
        next_attempt_at=timezone.now(),
        **fields,
    )


def test_deliveries_without_ordering_are_never_held_and_cost_no_query(customer, django_assert_num_queries):
    endpoint = services.create_endpoint(owner=customer.user, url="https://receiver.test/hook", event_types=["*"])
    unordered = [
        Delivery.objects.create(endpoint=endpoint, event=event(n), next_attempt_at=timezone.now()) for n in (1, 2)
    ]
    with django_assert_num_queries(0):
        assert ordering.held(unordered) == set()
        assert ordering.next_in_line(unordered) == []


def test_in_a_batch_only_the_first_of_each_line_goes(ordered):
    first, second, third = (delivery(ordered, n) for n in (1, 2, 3))
    other_subject = delivery(ordered, 1, subject=OTHER_SUBJECT)
    assert ordering.held([third, first, other_subject, second]) == {second.id, third.id}


def test_an_earlier_pending_delivery_in_the_database_holds_a_later_one(ordered):
    delivery(ordered, 1)
    later = delivery(ordered, 2)
    assert ordering.held([later]) == {later.id}


def test_an_earlier_delivery_that_settled_holds_nothing(ordered):
    delivery(ordered, 1, status=DeliveryStatus.SUCCEEDED)
    delivery(ordered, 2, status=DeliveryStatus.FAILED)
    later = delivery(ordered, 3)
    assert ordering.held([later]) == set()


def test_an_earlier_event_not_yet_dispatched_holds_the_delivery_though_its_own_delivery_does_not_exist(ordered):
    event(1, dispatched=False)
    later = delivery(ordered, 2)
    assert ordering.held([later]) == {later.id}


def test_lines_are_per_endpoint(ordered, second_ordered):
    delivery(second_ordered, 1)  # pending, but in another endpoint's line
    mine = delivery(ordered, 2)
    assert ordering.held([mine]) == set()


def test_next_in_line_is_the_lowest_pending_delivery_of_each_settled_line_not_claimed(ordered, second_ordered):
    settled = delivery(ordered, 1, status=DeliveryStatus.SUCCEEDED)
    claimed = delivery(ordered, 2, sending_until=timezone.now() + timedelta(minutes=1))
    after_claimed = delivery(ordered, 3)
    delivery(ordered, 4)
    delivery(second_ordered, 2, of=claimed.event)  # another line: nothing settled there
    other_settled = delivery(ordered, 1, subject=OTHER_SUBJECT, status=DeliveryStatus.FAILED)
    other_next = delivery(ordered, 2, subject=OTHER_SUBJECT, sending_until=timezone.now() - timedelta(seconds=1))
    assert claimed.id not in ordering.next_in_line([settled])
    assert sorted(ordering.next_in_line([settled, other_settled])) == sorted([after_claimed.id, other_next.id])


def test_a_settled_line_with_no_one_waiting_has_no_next(ordered):
    settled = delivery(ordered, 1, status=DeliveryStatus.SUCCEEDED)
    delivery(ordered, 2, status=DeliveryStatus.SUCCEEDED)
    assert ordering.next_in_line([settled]) == []
