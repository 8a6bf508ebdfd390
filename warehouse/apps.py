from django.apps import AppConfig
from django.conf import settings


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = "Warehouse (fulfilment from the event bus)"

    def ready(self) -> None:
        from events.bus import rabbitmq as bus

        # Declared by every process that publishes, so that completed orders wait in the queue
        # even before the warehouse first starts (or while it is down).
        bus.register_queue(settings.WAREHOUSE_QUEUE, patterns=["order.completed"])
