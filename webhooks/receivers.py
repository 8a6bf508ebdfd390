"""Where the webhooks app meets the rest: published events are fanned out, every process told
when endpoints or users change, and a worker's sender finished when the worker stops."""

import logging

from celery.signals import worker_process_shutdown, worker_shutdown
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from events.models import Event
from events.signals import events_published
from webhooks import tasks
from webhooks.models import Endpoint
from webhooks.pipeline import fanout, sending, subscribers
from webhooks.signals import endpoints_changed

logger = logging.getLogger(__name__)


@receiver(events_published, dispatch_uid="webhooks.fan_out")
def deliver_to_subscribers(sender, events: list[Event], **kwargs) -> None:
    """A webhook problem never undoes the events' dispatch (nor the order's next steps, taken once
    it commits): the fan-out runs in a savepoint, and if it fails it is rolled back alone, logged, and
    tried again by a task once the dispatch has committed (fan-outs are idempotent). Events are
    dispatched in a worker, on either route (`events.outbox.recording`), so this worker's sender
    takes the deliveries. A dispatch takes each event once, so this is the events' first fan-out
    (were it not, the insert fails, and the fan-out is rolled back and tried again as below)."""
    try:
        with transaction.atomic():
            fanout.fan_out(events=events, send_here=True, first_time=True)
    except Exception:  # whatever it was, the caller's transaction goes on
        logger.exception("fan-out of %d event(s) failed: tried again after the commit", len(events))
        event_ids = [str(event.id) for event in events]
        transaction.on_commit(lambda: tasks.fan_out_again.delay(event_ids), robust=True)


@receiver([post_save, post_delete], sender=Endpoint, dispatch_uid="webhooks.endpoint_written")
@receiver(endpoints_changed, dispatch_uid="webhooks.endpoints_changed")
@receiver([post_save, post_delete], sender=User, dispatch_uid="webhooks.user_written")  # staff status
def renew_subscriptions(sender, **kwargs) -> None:
    subscribers.changed()


@worker_shutdown.connect  # the threads pool's only process
@worker_process_shutdown.connect  # each process of the prefork pool
def finish_requests_in_flight(**kwargs) -> None:
    sending.close_sender()
