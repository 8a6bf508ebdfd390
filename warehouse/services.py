"""The warehouse's work: an order completed (paid, stock committed, confirmation sent) is picked,
then shipped through the same service as staff's `ship`, so `order.shipped` and the shipping
e-mail follow. Safe under redelivery: an order that is no longer waiting to ship is left alone."""

import uuid

from orders.models import Order, OrderStatus
from orders.services import InvalidTransition, ship_order


def awaits_shipping(*, order_id: uuid.UUID) -> bool:
    """Whether the order is still to ship (approved); not if shipped already, cancelled or unknown."""
    return Order.objects.filter(id=order_id, status=OrderStatus.APPROVED).exists()


def ship_picked_order(*, order_id: uuid.UUID) -> Order | None:
    """Ship a picked order (the order and its `order.shipped` event in one transaction), unless it
    shipped or was cancelled meanwhile (`None`): the order row is locked, so it ships once."""
    try:
        return ship_order(order_id=order_id)
    except (InvalidTransition, Order.DoesNotExist):
        return None
