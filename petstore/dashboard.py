"""The figures on the admin's front page, for staff who are not developers."""

from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone

from events.models import Event
from orders.models import Order, OrderStatus
from webhooks.models import Delivery, DeliveryStatus, Endpoint


def dashboard_figures() -> dict:
    day_ago = timezone.now() - timedelta(hours=24)
    by_status = dict(Order.objects.values_list("status").annotate(count=Count("id")))
    backlog = Event.objects.filter(dispatched_at__isnull=True).aggregate(count=Count("id"), oldest=Min("created_at"))
    return {
        "orders_by_status": [(value, label, by_status.get(value, 0)) for value, label in OrderStatus.choices],
        "failed_deliveries_24h": Delivery.objects.filter(status=DeliveryStatus.FAILED, updated_at__gte=day_ago).count(),
        "day_ago": day_ago,
        "disabled_endpoints": Endpoint.objects.filter(is_active=False).count(),
        "outbox_backlog": backlog["count"],
        "outbox_oldest": backlog["oldest"],
    }
