from celery.signals import worker_process_shutdown, worker_shutdown
from django.dispatch import receiver

from events.models import Event
from events.signals import event_published
from webhooks import deliveries


@receiver(event_published, dispatch_uid="webhooks.fan_out")
def deliver_to_subscribers(sender, event: Event, **kwargs) -> None:
    deliveries.fan_out(event=event)


@worker_shutdown.connect  # the threads pool's only process
@worker_process_shutdown.connect  # each process of the prefork pool
def finish_requests_in_flight(**kwargs) -> None:
    deliveries.close_sender()
