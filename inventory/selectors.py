from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from inventory.models import Pet, PetStatus


def pets_matching(*, status: str | None = None, species: str | None = None) -> QuerySet[Pet]:
    pets = Pet.objects.all()
    if status == PetStatus.AVAILABLE:
        pets = pets.filter(stock__gt=0)
    elif status == PetStatus.SOLD_OUT:
        pets = pets.filter(stock=0)
    if species:
        pets = pets.filter(species=species)
    return pets


def inventory_by_status() -> dict[str, dict[str, int]]:
    counts = Pet.objects.aggregate(
        pets=Count("id"),
        available_pets=Count("id", filter=Q(stock__gt=0)),
        stock=Coalesce(Sum("stock"), 0),
        reserved=Coalesce(Sum("reserved"), 0),
    )
    return {
        PetStatus.AVAILABLE: {"pets": counts["available_pets"], "stock": counts["stock"]},
        PetStatus.SOLD_OUT: {"pets": counts["pets"] - counts["available_pets"], "stock": 0},
        "totals": {"pets": counts["pets"], "stock": counts["stock"], "reserved": counts["reserved"]},
    }
