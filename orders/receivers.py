"""What the order workers do with each event: the steps that follow it (`orders.pipeline`)."""

from django.db import transaction
from django.dispatch import receiver

from events.models import Event
from events.signals import events_published
from events.subjects import split
from orders import tasks
from orders.pipeline import STEPS_AFTER


@receiver(events_published, dispatch_uid="orders.take_order_steps")
def take_order_steps(sender, events: list[Event], **kwargs) -> None:
    """Events are dispatched in a worker (`events.outbox.recording`), which takes the steps that
    follow them itself, once the dispatch has committed (`orders.tasks.take_steps`)."""
    work = [(split(event.subject)[1], steps) for event in events if (steps := STEPS_AFTER.get(event.type))]
    if work:
        transaction.on_commit(lambda: [tasks.take_steps(order_id, steps) for order_id, steps in work], robust=True)
