from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from events.models import Event
from events.selectors import events_visible_to
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint


def endpoints_of(user: User) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(owner=user)


def events_for_filter_test(endpoint: Endpoint) -> QuerySet[Event]:
    """The events an endpoint's owner may test its filter with: their own, and every customer's
    for a staff endpoint that takes them."""
    if endpoint.all_customers and endpoint.owner.is_staff and endpoint.owner.is_active:
        return Event.objects.all()
    return events_visible_to(endpoint.owner)


# Attempts shown per delivery (API and admin): the latest ones. A delivery resent again and again
# has as many attempts as it was sent; `attempt_count` counts them all.
ATTEMPTS_SHOWN = 20


def latest_attempts() -> QuerySet[Attempt]:
    return Attempt.objects.order_by("-attempted_at", "-id")


def deliveries_of(endpoint: Endpoint, *, status: str | None = None) -> QuerySet[Delivery]:
    """The endpoint's deliveries, each with its latest ATTEMPTS_SHOWN attempts (`latest_attempts`,
    newest first), read in one query for the page."""
    deliveries = endpoint.deliveries.select_related("event").prefetch_related(
        Prefetch("attempts", queryset=latest_attempts()[:ATTEMPTS_SHOWN], to_attr="latest_attempts")
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


def endpoints_needing_secret_rotation() -> list[Endpoint]:
    """Endpoints whose signing secret no key of FIELD_ENCRYPTION_KEYS decrypts (each is read)."""
    endpoints = Endpoint.objects.select_related("owner").only("id", "url", "secret", "owner__username")
    return [endpoint for endpoint in endpoints.iterator(chunk_size=500) if endpoint.needs_secret_rotation]


def disabled_endpoint_count() -> int:
    return Endpoint.objects.filter(is_active=False).count()


def with_last_attempt(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """Each delivery with its last attempt's time, response status and error (`last_attempted_at`,
    `last_status`, `last_error`), read in the same query: lists show why without a query per row."""
    last = Attempt.objects.filter(delivery=OuterRef("pk")).order_by("-attempted_at", "-id")
    return deliveries.annotate(
        last_attempted_at=Subquery(last.values("attempted_at")[:1]),
        last_status=Subquery(last.values("response_status")[:1]),
        last_error=Subquery(last.values("error")[:1]),
    )


def _next_attempt(endpoint_ref: OuterRef) -> Subquery:
    pending = Delivery.objects.filter(
        endpoint=endpoint_ref, status=DeliveryStatus.PENDING, next_attempt_at__isnull=False
    ).order_by("next_attempt_at")
    return Subquery(pending.values("next_attempt_at")[:1])


def with_endpoint_next_attempt(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """Each delivery with the time its endpoint's next attempt is due (`endpoint_next_attempt_at`),
    whichever delivery it is for; empty when nothing waits."""
    return deliveries.annotate(endpoint_next_attempt_at=_next_attempt(OuterRef("endpoint_id")))


def with_next_attempt(endpoints: QuerySet[Endpoint]) -> QuerySet[Endpoint]:
    """Each endpoint with the time its next attempt is due (`next_attempt_at`)."""
    return endpoints.annotate(next_attempt_at=_next_attempt(OuterRef("pk")))


def recent_deliveries(endpoint: Endpoint, *, limit: int = 10) -> list[Delivery]:
    """The endpoint's latest deliveries with their last attempts, in one query."""
    return list(with_last_attempt(endpoint.deliveries.select_related("event").order_by("-id"))[:limit])
