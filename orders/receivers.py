"""What the order workers do with each event: the steps that follow it (`orders.pipeline`)."""

from django.db import transaction
from django.dispatch import receiver

from events.models import Event
from events.signals import events_published
from events.subjects import split
from orders import tasks
from orders.pipeline import STEPS_AFTER


@receiver(events_published, dispatch_uid="orders.enqueue_order_work")
def enqueue_order_work(sender, events: list[Event], **kwargs) -> None:
    work = [(split(event.subject)[1], steps) for event in events if (steps := STEPS_AFTER.get(event.type))]
    if work:  # once the change that recorded the events has committed (at once outside a transaction)
        transaction.on_commit(lambda: [tasks.queue_steps(order_id, steps) for order_id, steps in work], robust=True)
