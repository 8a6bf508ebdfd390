"""GET /v1/events?after=<event id>: the events after that one, oldest first, in commit order."""

import threading
import uuid

import psycopg
import pytest
from django.db import connection, transaction

from events.models import Event
from events.outbox import recording
from tests.conftest import eventually

ENDPOINT = "01a21e2f-fc12-765a-8dee-4ba611df3c37"
OTHER_ENDPOINT = "01a21e2f-fc12-765a-8dee-4ba611df3c38"


def record(owner, message: str, type: str = "webhook.test", endpoint: str = ENDPOINT) -> Event:
    with transaction.atomic():
        return recording.record(
            type=type, subject=f"endpoint/{endpoint}", owner=owner, data={"endpoint_id": endpoint, "message": message}
        )


@pytest.mark.django_db(transaction=True)  # on PostgreSQL, only committed events are listed
def test_after_lists_the_later_events_oldest_first_page_by_page(customer):
    events = [record(customer.user, str(n)) for n in range(5)]
    page = customer.client.get(f"/v1/events?after={events[0].id}&limit=2").json()
    assert [event["id"] for event in page["results"]] == [str(events[1].id), str(events[2].id)]
    assert page["previous"] is None
    page = customer.client.get(page["next"]).json()
    assert [event["id"] for event in page["results"]] == [str(events[3].id), str(events[4].id)]
    last = customer.client.get(page["next"]).json()
    assert (last["results"], last["next"]) == ([], None)


@pytest.mark.django_db(transaction=True)  # on PostgreSQL, only committed events are listed
def test_after_someone_elses_event_or_an_unknown_one_is_a_404(make_customer):
    alice, bob = make_customer(), make_customer()
    foreign = record(alice.user, "alice's")
    for event_id in (foreign.id, uuid.uuid4()):
        response = bob.client.get(f"/v1/events?after={event_id}")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
    assert bob.client.get("/v1/events?after=not-an-id").status_code == 400


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_with_a_smaller_id_is_not_skipped(customer):
    """Two transactions commit out of id order: the reader waits for the older one rather than
    move past the event it has not written yet."""
    if connection.vendor != "postgresql":
        pytest.skip("commit order differs from id order only with concurrent writers (PostgreSQL)")
    anchor = record(customer.user, "anchor")
    written, release = threading.Event(), threading.Event()
    slow = {}

    def slow_writer():
        with transaction.atomic():
            slow["event"] = recording.record(
                type="webhook.test",
                subject=f"endpoint/{ENDPOINT}",
                owner=customer.user,
                data={"endpoint_id": ENDPOINT, "message": "slow"},
            )
            written.set()
            release.wait(10)
        connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert written.wait(10)
        # Another subject: events of one subject commit in sequence order (the counter's row lock).
        fast = record(customer.user, "fast", endpoint=OTHER_ENDPOINT)  # a larger id, committed first
        assert fast.id > slow["event"].id
        listed = customer.client.get(f"/v1/events?after={anchor.id}").json()["results"]
        assert listed == []  # the fast one waits for the slow transaction to end
    finally:
        release.set()
        writer.join()
    # Both, in commit order, once every older transaction of this database has ended.
    listed = eventually(lambda: customer.client.get(f"/v1/events?after={anchor.id}").json()["results"])
    assert [event["id"] for event in listed] == [str(slow["event"].id), str(fast.id)]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_in_another_database_holds_no_event_back(customer):
    """The horizon is this database's oldest writer: one in another database of the same server
    (another application, another test lane) cannot write an event, so it makes no reader wait."""
    if connection.vendor != "postgresql":
        pytest.skip("the horizon is PostgreSQL's")
    elsewhere = psycopg.connect(**{**connection.get_connection_params(), "dbname": "postgres"}, autocommit=False)
    try:
        elsewhere.execute("SELECT pg_current_xact_id()")  # holds a transaction id, older than what follows
        events = [record(customer.user, str(n)) for n in range(3)]
        listed = customer.client.get(f"/v1/events?after={events[0].id}").json()["results"]
        assert [event["id"] for event in listed] == [str(events[1].id), str(events[2].id)]
    finally:
        elsewhere.close()
