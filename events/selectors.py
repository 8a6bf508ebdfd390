from django.contrib.auth.models import User
from django.db.models import Count, Min, QuerySet

from events.models import Event


def events_visible_to(user: User) -> QuerySet[Event]:
    return Event.objects.filter(owner=user)


def outbox_backlog() -> dict:
    """How many events wait to be dispatched, and since when the oldest."""
    return Event.objects.filter(dispatched_at__isnull=True).aggregate(count=Count("id"), oldest=Min("created_at"))


def bus_backlog() -> dict:
    """How many events the event bus has not confirmed yet, and since when the oldest."""
    return Event.objects.filter(bus_publish_at__isnull=False).aggregate(count=Count("id"), oldest=Min("created_at"))
