from django.dispatch import receiver

from events.models import Event
from events.signals import event_published
from webhooks import services


@receiver(event_published, dispatch_uid="webhooks.fan_out")
def deliver_to_subscribers(sender, event: Event, **kwargs) -> None:
    services.fan_out(event=event)
