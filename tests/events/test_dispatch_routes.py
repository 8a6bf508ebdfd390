"""The caller chooses an event's dispatch route: queued once its transaction commits, unless the
caller asked `dispatching_here()`, in a Celery task or any thread alike."""

import threading
import uuid
from unittest import mock

import pytest
from celery import shared_task
from django.db import transaction

from events.models import Event
from events.outbox import dispatch, recording

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: the hand-offs run on commit


def record_test_event() -> Event:
    endpoint_id = str(uuid.uuid4())
    with transaction.atomic():
        return recording.record(
            type="webhook.test", subject=f"endpoint/{endpoint_id}", data={"endpoint_id": endpoint_id, "message": "hi"}
        )


@shared_task(name="tests.record_test_event")
def record_in_a_task() -> str:
    return str(record_test_event().id)


def dispatched(event_id) -> bool:
    return Event.objects.get(id=event_id).dispatched_at is not None


def test_an_event_recorded_in_a_task_that_did_not_ask_is_queued_after_commit():
    with mock.patch("events.outbox.handoff.current_app.send_task") as queued:
        event_id = record_in_a_task.apply().get()  # run here, as a worker runs it
    queued.assert_called_once_with("events.dispatch_event", (event_id,))
    assert not dispatched(event_id)


def test_an_event_recorded_in_another_thread_of_a_worker_is_queued_after_commit():
    recorded = []
    with mock.patch("events.outbox.handoff.current_app.send_task") as queued:
        thread = threading.Thread(target=lambda: recorded.append(record_test_event()))  # as the webhook recorder
        thread.start()
        thread.join()
    queued.assert_called_once_with("events.dispatch_event", (str(recorded[0].id),))
    assert not dispatched(recorded[0].id)


def test_an_event_recorded_dispatching_here_is_dispatched_once_its_transaction_commits_and_never_queued():
    consumed = []
    with (
        mock.patch("events.outbox.handoff.current_app.send_task") as queued,
        mock.patch.object(dispatch.events_published, "send", lambda sender, events: consumed.extend(events)),
        recording.dispatching_here(),
    ):
        with transaction.atomic():
            event = recording.record(
                type="webhook.test", subject="endpoint/x", data={"endpoint_id": "x", "message": "hi"}
            )
            assert consumed == []  # not while the recording transaction holds its rows
        queued.assert_not_called()
    assert [one.id for one in consumed] == [event.id]
    assert dispatched(event.id)


def test_the_events_a_block_commits_are_dispatched_together_as_it_ends_even_when_it_ends_in_an_error():
    batches = []

    def record_one():
        with transaction.atomic():
            return record_test_event()

    with (
        mock.patch("events.outbox.handoff.current_app.send_task") as queued,
        mock.patch.object(dispatch.events_published, "send", lambda sender, events: batches.append(events)),
        pytest.raises(RuntimeError),
        recording.dispatching_here(),
    ):
        payment, confirmation = record_one(), record_one()  # a payment, then its confirmation
        with transaction.atomic():
            rolled_back = record_test_event()
            raise RuntimeError("after two commits, a third transaction fails")
    queued.assert_not_called()
    assert [[event.id for event in batch] for batch in batches] == [sorted([payment.id, confirmation.id])]
    assert not Event.objects.filter(id=rolled_back.id).exists()


def test_a_block_that_commits_many_events_dispatches_them_in_batches_as_it_goes(monkeypatch):
    monkeypatch.setattr(recording, "HERE_BATCH", 2)
    batches = []
    with (
        mock.patch("events.outbox.handoff.current_app.send_task"),
        mock.patch.object(dispatch.events_published, "send", lambda sender, events: batches.append(len(events))),
        recording.dispatching_here(),
    ):
        for _ in range(5):  # a sweep cancelling order after order
            record_test_event()
        assert batches == [2, 2]
    assert batches == [2, 2, 1]


def test_a_dispatch_takes_only_events_not_dispatched_yet():
    with mock.patch("events.outbox.handoff.current_app.send_task"):
        event = record_test_event()
    consumed = []
    with mock.patch.object(dispatch.events_published, "send", lambda sender, events: consumed.extend(events)):
        assert [one.id for one in dispatch.dispatch([event.id])] == [event.id]
        assert dispatch.dispatch([event.id]) == []  # the relay, or a message delivered twice
    assert [one.id for one in consumed] == [event.id]


def test_a_failing_consumer_leaves_its_events_undispatched_for_the_relay():
    with mock.patch("events.outbox.handoff.current_app.send_task"):
        event = record_test_event()

    def fail(sender, events):
        raise RuntimeError("consumer down")

    with mock.patch.object(dispatch.events_published, "send", fail), pytest.raises(RuntimeError):
        dispatch.dispatch([event.id])
    assert not dispatched(event.id)


def test_the_events_of_one_transaction_are_queued_in_one_message_and_dispatched_together():
    with (
        mock.patch("events.outbox.handoff.current_app.send_task") as queued,
        transaction.atomic(),
        recording.recording_together(),
    ):
        first, second = record_test_event(), record_test_event()
    queued.assert_called_once_with("events.dispatch_event", (str(first.id),), kwargs={"together": [str(second.id)]})
    consumed = []
    with mock.patch.object(dispatch.events_published, "send", lambda sender, events: consumed.extend(events)):
        dispatch.dispatch_by_id(event_id=str(first.id), together=[str(second.id)])
    assert [event.id for event in consumed] == [first.id, second.id]
    assert dispatched(first.id) and dispatched(second.id)
