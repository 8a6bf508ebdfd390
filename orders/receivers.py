"""What the order workers do with each event: the steps that follow it (`orders.pipeline`)."""

from django.dispatch import receiver

from events.models import Event
from events.signals import events_published
from events.subjects import split
from orders import tasks
from orders.pipeline import STEPS_AFTER


@receiver(events_published, dispatch_uid="orders.enqueue_order_work")
def enqueue_order_work(sender, events: list[Event], **kwargs) -> None:
    for event in events:
        if steps := STEPS_AFTER.get(event.type):
            tasks.queue_steps(split(event.subject)[1], steps)
