from celery import shared_task

from events import services


@shared_task(name="events.dispatch_event")
def dispatch_event(event_id: str) -> None:
    services.dispatch_by_id(event_id=event_id)


@shared_task(name="events.relay_undispatched_events")
def relay_undispatched_events() -> int:
    return services.relay_undispatched()
