"""The events the inventory produces: store-wide, so only staff endpoints with `all_customers` get them."""

from enum import StrEnum

from rest_framework import serializers

from events.catalog.registry import EventTypeSpec
from events.subjects import subject
from inventory.models import Pet
from inventory.serializers import PetSerializer


class InventoryEvent(StrEnum):
    UPDATED = "inventory.updated"
    LOW_STOCK = "inventory.low_stock"


class InventoryEventData(serializers.Serializer):
    pet = PetSerializer()


EVENT_TYPES = [
    EventTypeSpec(
        InventoryEvent.UPDATED,
        "A pet's stock changed (store-wide: staff endpoints with all_customers receive it).",
        InventoryEventData,
    ),
    EventTypeSpec(
        InventoryEvent.LOW_STOCK,
        "A pet's stock fell to or below its low-stock threshold (store-wide).",
        InventoryEventData,
    ),
]


def pet_subject(pet: Pet) -> str:
    """The subject of a pet's inventory events: `pet/<id>`."""
    return subject("pet", pet.id)
