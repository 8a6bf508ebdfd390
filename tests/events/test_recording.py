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
