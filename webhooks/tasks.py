from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.send_delivery")
def send_delivery(delivery_id: str) -> None:
    services.attempt_delivery(delivery_id=delivery_id)


@shared_task(name="webhooks.enqueue_due_deliveries")
def enqueue_due_deliveries() -> int:
    return services.enqueue_due_deliveries()


@shared_task(name="webhooks.prune_attempts")
def prune_attempts() -> int:
    return services.prune_attempts()
