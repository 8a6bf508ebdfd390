from celery import shared_task

from webhooks import deliveries, services


@shared_task(name="webhooks.send_deliveries")
def send_deliveries(delivery_ids: list[str]) -> int:
    return deliveries.send_deliveries(delivery_ids=delivery_ids)


@shared_task(name="webhooks.enqueue_due_deliveries")
def enqueue_due_deliveries() -> int:
    return deliveries.enqueue_due_deliveries()


@shared_task(name="webhooks.prune_attempts")
def prune_attempts() -> int:
    return services.prune_attempts()
