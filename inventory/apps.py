from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Catalog and inventory"

    def ready(self) -> None:
        from events.catalog import registry
        from inventory.events import EVENT_TYPES

        registry.register(*EVENT_TYPES)
