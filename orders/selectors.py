from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Count, QuerySet

from events.models import Event
from orders.events import order_subject
from orders.models import Order


def orders_visible_to(user: User) -> QuerySet[Order]:
    """A customer sees their own orders; staff see every order (they ship them)."""
    orders = Order.objects.prefetch_related("items")
    return orders if user.is_staff else orders.filter(user=user)


def order_timeline(order: Order) -> QuerySet[Event]:
    return Event.objects.filter(subject=order_subject(order))


def order_counts_by_status(*, since: datetime) -> dict[str, int]:
    """Orders placed since then, by status (read by the created_at index, however many orders)."""
    return dict(Order.objects.filter(created_at__gte=since).values_list("status").annotate(count=Count("id")))
