"""The hand-off: how a committed event reaches its consumers. There are two routes.

- **From a web request** (or a management command): the event is queued, a `dispatch_event` task
  on the `events` queue, so that the request answers at once and a worker dispatches it.
- **From a worker** (an event recorded by a task: `payment.succeeded`, `order.completed`…): the
  worker is already in the background, so it dispatches the event itself, right after the commit,
  and saves a trip through the broker; the events of one transaction go together (one fan-out,
  one update). Its consumers' work then starts in that same worker where
  it can (webhook fan-out sends at once) and is queued where it is a step of its own (the order's
  next task).

Either way the event is already in the outbox. If the hand-off is lost (the broker is down, the
worker dies between commit and dispatch), `dispatched_at` stays empty and the relay
(`events.relay_undispatched_events`, on beat) queues it again; consumers are idempotent.
"""

from django.dispatch import receiver

from core.workers import in_task
from events import services, tasks
from events.models import Event
from events.signals import events_recorded


@receiver(events_recorded, dispatch_uid="events.hand_off")
def hand_off(sender, events: list[Event], **kwargs) -> None:
    if in_task():
        services.dispatch_all(events)
    else:
        for event in events:
            tasks.queue_dispatch(event.id)
