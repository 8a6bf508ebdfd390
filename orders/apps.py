from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from events.catalog import registry
        from orders import receivers  # noqa: F401 - connects the event consumers
        from orders.events import EVENT_TYPES

        registry.register(*EVENT_TYPES)
