"""The outbox relay hands each undispatched event on once per attempt, with a backoff."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from events import tasks
from events.models import Event
from events.outbox import dispatch, recording, relay

pytestmark = pytest.mark.django_db


def undispatched_events(count: int) -> list[Event]:
    events = []
    for _ in range(count):
        endpoint_id = str(uuid.uuid4())
        data = {"endpoint_id": endpoint_id, "message": "relay me"}
        events.append(recording.record(type="webhook.test", subject=f"endpoint/{endpoint_id}", data=data))
    Event.objects.update(relay_at=timezone.now() - timedelta(seconds=1))  # their relay time has come
    return events


def test_five_undispatched_events_over_three_ticks_are_handed_on_five_times():
    undispatched_events(5)
    with mock.patch("events.outbox.handoff.current_app.send_task") as queued:
        handed_on = [tasks.relay_undispatched_events() for _ in range(3)]
    assert handed_on == [5, 0, 0]
    assert queued.call_count == 5


def test_each_further_relay_of_an_event_waits_twice_as_long(settings):
    settings.OUTBOX_RELAY_AFTER = timedelta(seconds=30)
    settings.OUTBOX_RELAY_MAX_DELAY = timedelta(seconds=100)
    (event,) = undispatched_events(1)
    delays = []
    for _ in range(4):
        Event.objects.filter(id=event.id).update(relay_at=timezone.now() - timedelta(seconds=1))
        before = timezone.now()
        assert relay.claim_events_to_relay() == [(event.id, event.traceparent)]
        event.refresh_from_db()
        delays.append(round((event.relay_at - before).total_seconds()))
    assert delays == [60, 100, 100, 100]
    assert event.relay_attempts == 4


def test_a_dispatched_event_is_not_relayed():
    (event,) = undispatched_events(1)
    dispatch.dispatch([event.id])
    assert relay.claim_events_to_relay() == []
