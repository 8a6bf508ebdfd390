"""Where the webhooks app meets the rest: published events are fanned out, ready deliveries
queued, and a worker's sender finished when the worker stops."""

from celery.signals import worker_process_shutdown, worker_shutdown
from django.dispatch import receiver

from events.models import Event
from events.signals import events_published
from webhooks import fanout, sending, tasks
from webhooks.signals import deliveries_ready


@receiver(events_published, dispatch_uid="webhooks.fan_out")
def deliver_to_subscribers(sender, events: list[Event], **kwargs) -> None:
    fanout.fan_out(events=events)


@receiver(deliveries_ready, dispatch_uid="webhooks.queue_send")
def queue_deliveries(sender, delivery_ids: list[str], **kwargs) -> None:
    tasks.queue_send(delivery_ids)


@worker_shutdown.connect  # the threads pool's only process
@worker_process_shutdown.connect  # each process of the prefork pool
def finish_requests_in_flight(**kwargs) -> None:
    sending.close_sender()
