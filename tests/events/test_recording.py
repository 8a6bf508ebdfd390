"""Recording: each event numbered in its subject, in one batch as in several."""

from decimal import Decimal

import pytest
from django.db import transaction

from core.serializers import representer
from events.models import Event
from events.outbox.recording import record, recording_together
from inventory.events import InventoryEvent, pet_subject
from inventory.serializers import PetSerializer
from inventory.services import create_pet

pytestmark = pytest.mark.django_db


def test_a_batch_numbers_each_subject_on_from_its_last_event_in_the_order_recorded():
    pets = {name: create_pet(name=name, species="dog", price=Decimal(1), stock=1) for name in "ab"}  # event 1 each
    with transaction.atomic(), recording_together():
        recorded = [
            record(
                type=InventoryEvent.UPDATED,
                subject=pet_subject(pets[name]),
                data={"pet": representer(PetSerializer)(pets[name])},
            )
            for name in "abaab"
        ]

    assert [(event.subject, event.sequence) for event in recorded] == [
        (pet_subject(pets["a"]), 2),
        (pet_subject(pets["b"]), 2),
        (pet_subject(pets["a"]), 3),
        (pet_subject(pets["a"]), 4),
        (pet_subject(pets["b"]), 3),
    ]
    stored = Event.objects.in_bulk([event.id for event in recorded])
    assert [(stored[event.id].sequence, stored[event.id].txid) for event in recorded] == [
        (event.sequence, event.txid) for event in recorded
    ]
    assert len({event.txid for event in recorded}) == 1  # one transaction wrote them


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("inside_another", [False, True], ids=["alone", "inside another transaction"])
def test_events_written_with_the_commit_are_numbered_once_it_has_committed(inside_another):
    from contextlib import nullcontext
    from unittest import mock

    from django.db import connection

    from events.outbox import recording

    pet = create_pet(name="a", species="dog", price=Decimal(1), stock=1)  # its event 1
    as_event_data = representer(PetSerializer)
    write = recording._write
    numbered_by_the_write = []

    def observed(events):
        write(events)
        numbered_by_the_write.append([event.sequence for event in events])

    with mock.patch.object(recording, "_write", observed), transaction.atomic() if inside_another else nullcontext():
        with recording.recording_with_the_commit():
            recorded = [
                record(type=InventoryEvent.UPDATED, subject=pet_subject(pet), data={"pet": as_event_data(pet)})
                for _ in range(2)
            ]
        numbered_before_the_commit = [event.sequence for event in recorded]

    if connection.vendor == "postgresql" and not inside_another:  # sent with the COMMIT, read from its answer
        assert numbered_by_the_write == [[None, None]]
    else:  # inside another, or on SQLite, as usual
        assert numbered_by_the_write == [[2, 3]]
    assert numbered_before_the_commit == [2, 3]
    stored = Event.objects.in_bulk([event.id for event in recorded])
    assert [(event.sequence, event.txid) for event in recorded] == [
        (stored[event.id].sequence, stored[event.id].txid) for event in recorded
    ]
    assert [event.sequence for event in recorded] == [2, 3]


@pytest.mark.django_db(transaction=True)
def test_an_event_recorded_after_the_commit_of_a_block_that_wrote_its_own_is_written_too():
    from events.outbox.recording import recording_with_the_commit

    pet = create_pet(name="a", species="dog", price=Decimal(1), stock=1)
    as_event_data = representer(PetSerializer)

    def later():
        record(type=InventoryEvent.UPDATED, subject=pet_subject(pet), data={"pet": as_event_data(pet)})

    with recording_with_the_commit():
        record(type=InventoryEvent.UPDATED, subject=pet_subject(pet), data={"pet": as_event_data(pet)})
        transaction.on_commit(later)  # e.g. a consumer told once the block has committed

    assert list(Event.objects.filter(subject=pet_subject(pet)).values_list("sequence", flat=True)) == [1, 2, 3]
