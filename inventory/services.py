"""Stock: reserved when an order is placed, committed once it is paid, released if it is cancelled."""

import logging
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, ProtectedError

from core.errors import DomainError
from core.serializers import representer
from core.transactions import goes_with_the_commit, send_with_the_commit
from events.outbox.recording import record, record_with_its_change
from inventory.events import InventoryEvent, pet_subject
from inventory.models import MAX_STOCK, Pet, PetStatus
from inventory.serializers import PetSerializer

logger = logging.getLogger(__name__)

_pet_data = representer(PetSerializer)  # a pet as its events carry it


class OutOfStock(DomainError):
    code = "out-of-stock"
    title = "Not enough stock"


class PetInUse(DomainError):
    code = "pet-in-use"
    title = "The pet has orders"


class TooMuchStock(DomainError):
    code = "too-much-stock"
    title = "Too much stock"


class UnknownPet(DomainError):
    status = 400
    code = "unknown-pet"
    title = "No such pet"


def record_stock_change(pet: Pet) -> None:
    record(type=InventoryEvent.UPDATED, subject=pet_subject(pet), data={"pet": _pet_data(pet)})


def create_pet(
    *, name: str, species: str, price: Decimal, currency: str = "USD", stock: int = 0, low_stock_threshold: int = 2
) -> Pet:
    pet = Pet(
        name=name, species=species, price=price, currency=currency, stock=stock, low_stock_threshold=low_stock_threshold
    )
    return add_pet(pet=pet)


@transaction.atomic
def add_pet(*, pet: Pet) -> Pet:
    """Save a new pet built elsewhere (the admin's form), with its `inventory.updated` event."""
    pet.save(force_insert=True)
    record_stock_change(pet)
    return pet


@transaction.atomic
def update_pet(*, pet: Pet, **changes) -> Pet:
    """Save the fields named in `changes` only: stock and reservations, which orders change
    meanwhile, are never written back from what a form or a client last saw."""
    for field, value in changes.items():
        setattr(pet, field, value)
    pet.save(update_fields=[*changes, "updated_at"])
    return pet


def delete_pet(*, pet: Pet) -> None:
    try:
        pet.delete()
    except ProtectedError as error:
        raise PetInUse("This pet appears in orders; it cannot be deleted.") from error


@transaction.atomic
def restock(*, pet_id: uuid.UUID, quantity: int) -> Pet:
    # Reserved units count too: a cancelled order gives them back to the stock, which must stay
    # within what a pet's `stock` may be. One conditional UPDATE: two restocks cannot both pass.
    added = Pet.objects.filter(id=pet_id, stock__lte=MAX_STOCK - quantity - F("reserved")).update(
        stock=F("stock") + quantity
    )
    if not added:
        raise TooMuchStock(f"A pet holds at most {MAX_STOCK} units, orderable and reserved together.")
    pet = Pet.objects.get(id=pet_id)
    record_stock_change(pet)
    return pet


def pets_to_order(*, pet_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Pet]:
    """The pets an order names, read without a lock (for their prices); all must exist."""
    pet_ids = list(pet_ids)
    pets = Pet.objects.in_bulk(pet_ids)
    missing = [str(pet_id) for pet_id in pet_ids if pet_id not in pets]
    if missing:
        raise UnknownPet(f"No pet with id {', '.join(missing)}.")
    return pets


def reserve(*, quantities: Mapping[uuid.UUID, int]) -> None:
    """Take `quantities` out of the orderable stock, all or nothing (call inside a transaction),
    and record the stock change (`inventory.updated`, and `inventory.low_stock` at or below the
    pet's threshold): the orderable stock changes here, when an order is placed. Pets are taken
    in id order, so that orders never deadlock; each pet's row stays locked until the commit.

    With the COMMIT (`events.outbox.recording.recording_with_the_commit`'s `last`, on
    PostgreSQL), each pet's decrement and its events are one statement that goes with it, the
    events built in SQL from the row it leaves (`_PET_DATA_SQL`): a popular pet's row is held
    for the server's time alone. Too little stock fails it by the stock's CHECK constraint, and
    the transaction with it: `refusal()` then says why. Elsewhere each decrement is a conditional
    UPDATE, read back in the same statement (RETURNING), so two buyers of the last unit cannot
    both win, and the events are built from what it returns: call it last in the transaction but
    for the writing of its events.
    """
    if goes_with_the_commit():
        for pet_id in sorted(quantities):
            _reserve_with_its_events(pet_id, quantities[pet_id])
        return
    for pet_id in sorted(quantities):
        quantity = quantities[pet_id]
        taken = list(
            Pet.objects.raw(
                f"UPDATE {Pet._meta.db_table} SET stock = stock - %s, reserved = reserved + %s"
                " WHERE id = %s AND stock >= %s RETURNING *",
                [quantity, quantity, Pet._meta.pk.get_db_prep_value(pet_id, connection), quantity],
            )
        )
        if not taken:
            pet = Pet.objects.get(id=pet_id)
            raise _too_little(pet, quantity)
        (pet,) = taken
        record_stock_change(pet)
        if pet.stock <= pet.low_stock_threshold:
            record(type=InventoryEvent.LOW_STOCK, subject=pet_subject(pet), data={"pet": _pet_data(pet)})


_RETURNED = "id, name, species, price, currency, stock, low_stock_threshold"
# A pet as its events carry it (`_pet_data`), built in SQL from the row a reservation leaves
# (`change`); tests/inventory hold the two to the same output.
_PET_DATA_SQL = (
    "jsonb_build_object('pet', jsonb_build_object('id', change.id, 'name', change.name,"
    " 'species', change.species, 'price', change.price::text, 'currency', change.currency,"
    f" 'status', CASE WHEN change.stock > 0 THEN '{PetStatus.AVAILABLE}' ELSE '{PetStatus.SOLD_OUT}' END,"
    " 'stock', change.stock, 'low_stock_threshold', change.low_stock_threshold))"
)


def _reserve_with_its_events(pet_id: uuid.UUID, quantity: int) -> None:
    record_with_its_change(
        f"UPDATE {Pet._meta.db_table} SET stock = stock - %s, reserved = reserved + %s WHERE id = %s"
        f" RETURNING {_RETURNED}",
        [quantity, quantity, Pet._meta.pk.get_db_prep_value(pet_id, connection)],
        subject=pet_subject(Pet(id=pet_id)),
        types=[InventoryEvent.UPDATED, InventoryEvent.LOW_STOCK],
        data=_PET_DATA_SQL,
        written_if=["true", "change.stock <= change.low_stock_threshold"],
    )


def refusal(quantities: Mapping[uuid.UUID, int], error: IntegrityError) -> DomainError | None:
    """Why a reservation sent with the COMMIT failed with `error`, read once the transaction has
    rolled back: a pet that is gone, or too little stock; None if the error was not the pets'."""
    pets = Pet.objects.in_bulk(list(quantities))
    for pet_id in sorted(quantities):
        if pet_id not in pets:
            return UnknownPet(f"No pet with id {pet_id}.")
        if (pet := pets[pet_id]).stock < quantities[pet_id]:
            return _too_little(pet, quantities[pet_id])
    if getattr(getattr(error.__cause__, "diag", None), "table_name", None) == Pet._meta.db_table:
        return OutOfStock("The stock changed as this order was placed; try again.")  # restocked since
    return None


def _too_little(pet: Pet, quantity: int) -> OutOfStock:
    return OutOfStock(f"Only {pet.stock} of {pet.name} left; you asked for {quantity}.")


def commit(*, quantities: Mapping[uuid.UUID, int]) -> None:
    """The reserved units are sold: they leave the reservation for good (inside a transaction).
    The orderable stock does not change (it did when the order was placed), so there is no event;
    one UPDATE per pet, which locks its row until commit: call this last in the transaction; in
    `core.transactions.atomic_ending_with`'s last statements it goes with the COMMIT."""
    for pet_id in sorted(quantities):
        send_with_the_commit(
            f"UPDATE {Pet._meta.db_table} SET reserved = reserved - %s WHERE id = %s",
            [quantities[pet_id], Pet._meta.pk.get_db_prep_value(pet_id, connection)],
        )


def release(*, quantities: Mapping[uuid.UUID, int], committed: bool) -> None:
    """Put the units of a cancelled order back on sale (inside a transaction), within MAX_STOCK.

    A paid order's units have left the reservation, so a restock may have filled the pet up to
    the limit since: the cancellation still goes through (its refund is what matters, as with
    Stripe's or Shopify's refunds, which never fail for the warehouse), and the units beyond the
    limit are not put back on sale (logged), so `stock` stays within what its schema allows.
    The pets are locked in id order, as `reserve` takes them, and read once for both the cap and
    the events.
    """
    pets = Pet.objects.select_for_update().filter(id__in=quantities).order_by("id")
    for pet in pets:
        quantity = quantities[pet.id]
        held = 0 if committed else quantity
        back = min(quantity, MAX_STOCK - pet.stock - (pet.reserved - held))
        if back < quantity:
            logger.warning(
                "pet %s: at its stock limit; %d cancelled units not put back on sale", pet.id, quantity - back
            )
        Pet.objects.filter(id=pet.id).update(stock=F("stock") + back, reserved=F("reserved") - held)
        pet.stock, pet.reserved = pet.stock + back, pet.reserved - held
        record_stock_change(pet)
