from decimal import Decimal

from django.core.management.base import BaseCommand

from inventory.models import Pet
from inventory.services import create_pet

DEMO_PETS = [
    ("Rex", "dog", "125.50", 5),
    ("Bella", "dog", "310.00", 3),
    ("Whiskers", "cat", "89.99", 8),
    ("Luna", "cat", "140.00", 2),
    ("Kiwi", "bird", "45.00", 12),
    ("Nemo", "fish", "9.95", 40),
    ("Thumper", "rabbit", "60.00", 6),
    ("Spike", "reptile", "220.00", 1),
]


class Command(BaseCommand):
    help = "Add the demo pets that are not in the catalog yet (safe to run again)."

    def handle(self, **options):
        added = 0
        for name, species, price, stock in DEMO_PETS:
            if not Pet.objects.filter(name=name, species=species).exists():
                create_pet(name=name, species=species, price=Decimal(price), stock=stock)
                added += 1
        self.stdout.write(f"Demo pets: {added} added, {len(DEMO_PETS) - added} already there.")
