"""Thin tasks. Deliveries enter the queue through `webhooks.pipeline.handoff`, which sends
`send_deliveries` by its name."""

from celery import shared_task

from events.models import Event
from webhooks import services
from webhooks.pipeline import fanout, sending, sweep


@shared_task(name="webhooks.send_deliveries")
def send_deliveries(delivery_ids: list[str]) -> int:
    return sending.send_deliveries(delivery_ids=delivery_ids)


@shared_task(
    name="webhooks.fan_out_again", autoretry_for=(Exception,), retry_backoff=5, retry_backoff_max=300, max_retries=8
)
def fan_out_again(event_ids: list[str]) -> int:
    """A fan-out that failed inside its event's transaction, tried again on its own."""
    return fanout.fan_out(events=list(Event.objects.filter(id__in=event_ids).order_by("id")), send_here=True)


@shared_task(name="webhooks.enqueue_due_deliveries")
def queue_due_deliveries() -> int:
    return sweep.queue_due_deliveries()


@shared_task(name="webhooks.prune_attempts")
def prune_attempts() -> int:
    return services.prune_attempts()


@shared_task(name="webhooks.prune_deliveries")
def prune_deliveries() -> int:
    return services.prune_succeeded_deliveries() + services.prune_test_events()


@shared_task(name="webhooks.forget_expired_secrets")
def forget_expired_secrets() -> int:
    return services.forget_expired_secrets()
