"""How long the outbox keeps its events."""

from django.conf import settings
from django.utils import timezone

from core.pruning import delete_in_batches
from events.models import Event


def prune_events() -> int:
    """Dispatched events older than EVENT_RETENTION that no delivery refers to any more (succeeded
    deliveries are pruned first; failed ones keep their event for a replay)."""
    cutoff = timezone.now() - settings.EVENT_RETENTION
    old = Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False, bus_publish_at__isnull=True)
    return delete_in_batches(old.filter(deliveries__isnull=True))  # `deliveries`: webhooks' reverse relation
