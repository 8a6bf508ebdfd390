"""The subscriptions each process keeps for the fan-out: no query while nothing changed, and every
way an endpoint or its owner changes is seen at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Event
from orders.services import place_order
from webhooks import services
from webhooks.models import Delivery, Endpoint
from webhooks.pipeline import fanout, health, subscribers

URL = "http://127.0.0.1:9/hook"
PAYMENT = {"method": "card", "token": "tok_visa"}


def endpoint_ids(owner_ids) -> set:
    return {endpoint.id for endpoint in subscribers.endpoints_for(owner_ids)}


def queries_for(owner_ids) -> int:
    with CaptureQueriesContext(connection) as queries:
        subscribers.endpoints_for(owner_ids)
    return len(queries)


@pytest.fixture
def endpoint(customer):
    return services.create_endpoint(owner=customer.user, url=URL, event_types=["order.*"])


def test_kept_subscriptions_cost_no_query_until_an_endpoint_changes(customer, endpoint):
    owners = {customer.user.id}
    assert endpoint_ids(owners) == {endpoint.id}
    assert queries_for(owners) == 0

    services.update_endpoint(endpoint=endpoint, description="renamed")
    assert queries_for(owners) == 1
    assert queries_for(owners) == 0


def test_every_kind_of_change_is_seen_at_once(customer, make_customer, staff, endpoint):
    owners = {customer.user.id}
    assert endpoint_ids(owners) == {endpoint.id}

    health.disable(endpoint, reason=Endpoint.DisabledReason.GONE)  # a queryset update, as the recorder does
    assert endpoint_ids(owners) == set()
    health.enable(endpoint)
    assert endpoint_ids(owners) == {endpoint.id}

    second = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    assert endpoint_ids(owners) == {endpoint.id, second.id}
    second.delete()
    assert endpoint_ids(owners) == {endpoint.id}

    rotated = services.rotate_secret(endpoint=Endpoint.objects.get(id=endpoint.id))
    (kept,) = subscribers.endpoints_for(owners)
    assert kept.secret == rotated.secret  # deliveries are signed with the new secret at once

    everyone = services.create_endpoint(owner=staff.user, url=URL, event_types=["*"], all_customers=True)
    assert everyone.id in endpoint_ids(owners)
    staff.user.is_staff = False
    staff.user.save()
    assert everyone.id not in endpoint_ids(owners)


@pytest.mark.redis
def test_without_the_cache_the_database_answers(customer, endpoint, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    assert endpoint_ids({customer.user.id}) == {endpoint.id}
    assert queries_for({customer.user.id}) == 1


def test_a_staff_endpoint_for_every_customer_stops_with_its_owner_s_activity_or_staff(customer, staff, pet):
    everyone = services.create_endpoint(owner=staff.user, url=URL, event_types=["*"], all_customers=True)

    def customer_event_reaches_everyone() -> bool:
        order = place_order(user=customer.user, items=[{"pet_id": pet.id, "quantity": 1}], payment=PAYMENT).order
        event = Event.objects.get(subject=f"order/{order.id}")
        fanout.fan_out(events=[event], send_here=False)
        return Delivery.objects.filter(endpoint=everyone, event=event).exists()

    assert customer_event_reaches_everyone()
    staff.user.is_active = False
    staff.user.save()
    assert not customer_event_reaches_everyone()

    staff.user.is_active = True
    staff.user.save()
    assert customer_event_reaches_everyone()
    staff.user.is_staff = False
    staff.user.save()
    assert not customer_event_reaches_everyone()
