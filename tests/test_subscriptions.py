"""The subscriptions each process keeps for the fan-out: no query while nothing changed, and every
way an endpoint or its owner changes is seen at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webhooks import health, services, subscriptions
from webhooks.models import Endpoint

URL = "http://127.0.0.1:9/hook"


def endpoint_ids(owner_ids) -> set:
    return {endpoint.id for endpoint in subscriptions.endpoints_for(owner_ids)}


def queries_for(owner_ids) -> int:
    with CaptureQueriesContext(connection) as queries:
        subscriptions.endpoints_for(owner_ids)
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
    (kept,) = subscriptions.endpoints_for(owners)
    assert kept.secret == rotated.secret  # deliveries are signed with the new secret at once

    everyone = services.create_endpoint(owner=staff.user, url=URL, event_types=["*"], all_customers=True)
    assert everyone.id in endpoint_ids(owners)
    staff.user.is_staff = False
    staff.user.save()
    assert everyone.id not in endpoint_ids(owners)


def test_without_the_cache_the_database_answers(customer, endpoint, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    assert endpoint_ids({customer.user.id}) == {endpoint.id}
    assert queries_for({customer.user.id}) == 1
