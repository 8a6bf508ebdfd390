from rest_framework import serializers

from core.serializers import FilterSerializer, MoneyField, StrictTypesMixin
from inventory.models import MAX_STOCK, Pet, PetStatus


class PetSerializer(StrictTypesMixin, serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=PetStatus.choices, read_only=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD", help_text="ISO 4217 code.")
    price = MoneyField()
    stock = serializers.IntegerField(
        min_value=0,
        max_value=MAX_STOCK,
        default=0,
        help_text="Units that can still be ordered. Set on create; change it with restock.",
    )

    class Meta:
        model = Pet
        fields = ["id", "name", "species", "price", "currency", "status", "stock", "low_stock_threshold"]
        extra_kwargs = {"low_stock_threshold": {"min_value": 0, "max_value": MAX_STOCK}}

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["stock"].read_only = True
        return fields


class PetFilterSerializer(FilterSerializer):
    status = serializers.ChoiceField(choices=PetStatus.choices, required=False)
    species = serializers.CharField(required=False, min_length=1, max_length=20)


class RestockSerializer(StrictTypesMixin, serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_STOCK)


class StockCountSerializer(serializers.Serializer):
    pets = serializers.IntegerField()
    stock = serializers.IntegerField(help_text="Units that can be ordered.")


class InventoryTotalsSerializer(StockCountSerializer):
    reserved = serializers.IntegerField(help_text="Units held by orders whose stock is not committed yet.")


class InventorySerializer(serializers.Serializer):
    available = StockCountSerializer()
    sold_out = StockCountSerializer()
    totals = InventoryTotalsSerializer()
