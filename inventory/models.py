from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from uuid6 import uuid7


class Species(models.TextChoices):
    DOG = "dog"
    CAT = "cat"
    BIRD = "bird"
    FISH = "fish"
    RABBIT = "rabbit"
    REPTILE = "reptile"
    OTHER = "other"


class PetStatus(models.TextChoices):
    AVAILABLE = "available"
    SOLD_OUT = "sold_out"


MAX_STOCK = 1_000_000  # units of one pet, orderable and reserved together (the API's limit)


class Pet(models.Model):
    """A pet for sale. `stock` is what can still be ordered; `reserved` is held by placed orders
    whose stock is not committed yet."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=100)
    species = models.CharField(max_length=20, choices=Species.choices)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD")
    stock = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(MAX_STOCK)])
    reserved = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(MAX_STOCK)])
    low_stock_threshold = models.PositiveIntegerField(default=2, validators=[MaxValueValidator(MAX_STOCK)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="pet_stock_not_negative"),
            models.CheckConstraint(condition=models.Q(reserved__gte=0), name="pet_reserved_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> PetStatus:
        return PetStatus.AVAILABLE if self.stock > 0 else PetStatus.SOLD_OUT
