"""The events the order app produces: their types, what they mean and the shape of their `data`."""

from enum import StrEnum

from rest_framework import serializers

from events.catalog.registry import EventTypeSpec
from events.subjects import subject
from orders.models import Order, OrderStatus
from orders.serializers import OrderSerializer, PaymentSerializer


class OrderEvent(StrEnum):
    CREATED = "order.created"
    STATUS_CHANGED = "order.status_changed"
    COMPLETED = "order.completed"
    CANCELLED = "order.cancelled"
    SHIPPED = "order.shipped"
    DELIVERED = "order.delivered"


class PaymentEvent(StrEnum):
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"
    REFUNDED = "payment.refunded"


class OrderEventData(serializers.Serializer):
    order = OrderSerializer()


class OrderStatusChangedData(OrderEventData):
    previous_status = serializers.ChoiceField(choices=OrderStatus.choices)
    new_status = serializers.ChoiceField(choices=OrderStatus.choices)


class PaymentEventData(serializers.Serializer):
    payment = PaymentSerializer()
    order = OrderSerializer()


EVENT_TYPES = [
    EventTypeSpec(OrderEvent.CREATED, "An order was placed; its stock is reserved.", OrderEventData),
    EventTypeSpec(OrderEvent.STATUS_CHANGED, "An order changed status.", OrderStatusChangedData),
    EventTypeSpec(
        OrderEvent.COMPLETED,
        "Processing finished: payment captured, stock committed, confirmation sent.",
        OrderEventData,
    ),
    EventTypeSpec(OrderEvent.CANCELLED, "An order was cancelled; see `order.cancel_reason`.", OrderEventData),
    EventTypeSpec(OrderEvent.SHIPPED, "Staff shipped an order.", OrderEventData),
    EventTypeSpec(OrderEvent.DELIVERED, "Staff marked an order delivered.", OrderEventData),
    EventTypeSpec(PaymentEvent.SUCCEEDED, "The gateway captured an order's payment.", PaymentEventData),
    EventTypeSpec(PaymentEvent.FAILED, "The gateway declined an order's payment.", PaymentEventData),
    EventTypeSpec(PaymentEvent.REFUNDED, "A cancelled order's payment was refunded.", PaymentEventData),
]


def order_subject(order_or_id: Order | object) -> str:
    """The subject of an order's and its payment's events: `order/<id>`."""
    return subject("order", getattr(order_or_id, "id", order_or_id))
