import logging
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from events.models import Event, EventType
from events.signals import event_published
from petstore import log_context
from petstore.celery import in_task
from petstore.metrics import EVENTS_PUBLISHED

logger = logging.getLogger(__name__)


def publish(*, type: EventType, subject_id: uuid.UUID, data: dict, owner: User | None = None) -> Event:
    """Record an event in the caller's transaction and dispatch it once that transaction commits.

    A web request queues the dispatch; a worker, already in the background, dispatches at once and
    saves a trip through the broker. If that fails (the broker cannot be reached, the worker dies),
    the caller still succeeds: the event waits in the outbox and the relay dispatches it later.
    """
    event = Event.objects.create(type=type, subject_id=subject_id, data=data, owner=owner)
    if in_task():
        transaction.on_commit(lambda: dispatch(event), robust=True)
    else:
        transaction.on_commit(lambda: enqueue_dispatch(event_id=event.id), robust=True)
    return event


def enqueue_dispatch(*, event_id: uuid.UUID) -> None:
    from events.tasks import dispatch_event

    try:
        dispatch_event.delay(str(event_id))
    except Exception:  # noqa: BLE001 - broker errors vary by transport
        logger.warning("broker unreachable: event %s stays in the outbox for the relay", event_id)


def dispatch_by_id(*, event_id: uuid.UUID) -> None:
    event = Event.objects.filter(id=event_id).select_related("owner").first()
    if event is not None:  # else its transaction rolled back after all
        dispatch(event)


def dispatch(event: Event) -> None:
    """Hand an event to its consumers (signal receivers) and mark it dispatched."""
    log_context.bind(event_id=event.id, order_id=event.order_id)
    event_published.send(sender=Event, event=event)
    if Event.objects.filter(id=event.id, dispatched_at__isnull=True).update(dispatched_at=timezone.now()):
        EVENTS_PUBLISHED.labels(event.type).inc()
        logger.info("%s dispatched", event.type)


def relay_undispatched(*, limit: int = 1000) -> int:
    """Dispatch again the events whose dispatch was not confirmed in time."""
    cutoff = timezone.now() - settings.OUTBOX_RELAY_AFTER
    event_ids = list(
        Event.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    for event_id in event_ids:
        enqueue_dispatch(event_id=event_id)
    if event_ids:
        logger.info("outbox relay: %d events dispatched again", len(event_ids))
    return len(event_ids)
