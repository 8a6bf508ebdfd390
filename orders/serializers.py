from rest_framework import serializers

from core.serializers import StrictTypesMixin
from orders.models import CancelReason, Order, OrderItem, OrderStatus, PaymentMethod, PaymentStatus


class OrderItemSerializer(serializers.ModelSerializer):
    pet_id = serializers.UUIDField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = ["pet_id", "quantity", "unit_price"]


class OrderSerializer(serializers.ModelSerializer):
    """An order as the API shows it, and as events carry it in `data.order`."""

    items = OrderItemSerializer(many=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    payment_status = serializers.ChoiceField(choices=PaymentStatus.choices)
    cancel_reason = serializers.ChoiceField(choices=CancelReason.choices, allow_null=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "items",
            "total",
            "currency",
            "payment_status",
            "cancel_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    """A payment as `payment.*` events carry it in `data.payment`."""

    order_id = serializers.UUIDField(source="id")
    amount = serializers.DecimalField(source="total", max_digits=12, decimal_places=2)
    method = serializers.ChoiceField(source="payment_method", choices=PaymentMethod.choices)
    status = serializers.ChoiceField(source="payment_status", choices=PaymentStatus.choices)
    charge_id = serializers.CharField(allow_blank=True)

    class Meta:
        model = Order
        fields = ["order_id", "amount", "currency", "method", "status", "charge_id"]
        read_only_fields = fields


class OrderLineSerializer(StrictTypesMixin, serializers.Serializer):
    pet_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class PaymentDetailsSerializer(StrictTypesMixin, serializers.Serializer):
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    token = serializers.CharField(max_length=255, help_text="A card token, e.g. `tok_visa` on the test gateway.")


class PlaceOrderSerializer(StrictTypesMixin, serializers.Serializer):
    # A ListField, not `many=True`: the schema then says minItems/maxItems as the API applies them.
    items = serializers.ListField(child=OrderLineSerializer(), min_length=1, max_length=50)
    payment = PaymentDetailsSerializer()

    def validate_items(self, items: list[dict]) -> list[dict]:
        pet_ids = [item["pet_id"] for item in items]
        if len(set(pet_ids)) != len(pet_ids):
            raise serializers.ValidationError("List each pet once, with the quantity you want.")
        return items
