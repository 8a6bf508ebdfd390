from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events (outbox)"

    def ready(self) -> None:
        from events import receivers  # noqa: F401 - hands committed events on to be dispatched
