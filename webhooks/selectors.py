from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint


def endpoints_of(user: User) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(owner=user)


def deliveries_of(endpoint: Endpoint, *, status: str | None = None) -> QuerySet[Delivery]:
    deliveries = endpoint.deliveries.select_related("event").prefetch_related(
        Prefetch("attempts", queryset=Attempt.objects.order_by("attempted_at", "id"))
    )
    return deliveries.filter(status=status) if status else deliveries


def deliveries_matching(
    *,
    delivery_ids: list[str] | None = None,
    event_id: str | None = None,
    endpoint_id: str | None = None,
    event_type: str | None = None,
    status: str | None = None,
    since=None,
    until=None,
) -> QuerySet[Delivery]:
    """Deliveries by the replay command's filters; `status=None` means failed and succeeded."""
    deliveries = Delivery.objects.select_related("event", "endpoint").order_by("created_at", "id")
    if delivery_ids:
        deliveries = deliveries.filter(id__in=delivery_ids)
    if event_id:
        deliveries = deliveries.filter(event_id=event_id)
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    deliveries = deliveries.filter(status=status) if status else deliveries.exclude(status="pending")
    if since:
        deliveries = deliveries.filter(created_at__gte=since)
    if until:
        deliveries = deliveries.filter(created_at__lt=until)
    return deliveries


def failed_deliveries_since(when: datetime) -> int:
    return Delivery.objects.filter(status=DeliveryStatus.FAILED, updated_at__gte=when).count()


def disabled_endpoint_count() -> int:
    return Endpoint.objects.filter(is_active=False).count()
