"""The web route's hand-off (see `events.services`): events recorded outside a worker are queued
once their transaction commits, to be dispatched by a worker."""

from django.dispatch import receiver

from events import tasks
from events.models import Event
from events.signals import events_recorded


@receiver(events_recorded, dispatch_uid="events.hand_off")
def queue_dispatch(sender, events: list[Event], **kwargs) -> None:
    for event in events:
        tasks.queue_dispatch(event.id, event=event)
