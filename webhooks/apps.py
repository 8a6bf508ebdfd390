from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        from events.catalog import registry
        from webhooks import receivers  # noqa: F401 - connects the fan-out to published events
        from webhooks.events import EVENT_TYPES

        registry.register(*EVENT_TYPES)
