"""The event types: declared by the apps that produce them, registered here when each app is ready.

The events app knows no producer: `orders`, `inventory` and `webhooks` each declare their types,
a description and the serializer of their `data` in their own `events.py`, and register them
from their `AppConfig.ready()`. The catalog, the OpenAPI `webhooks` section, the API's filters
and the subscription check all read this registry.
"""

from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers


@dataclass(frozen=True)
class EventTypeSpec:
    type: str
    description: str
    data: type[serializers.Serializer]


_specs: dict[str, EventTypeSpec] = {}


def register(*specs: EventTypeSpec) -> None:
    for spec in specs:
        if _specs.get(spec.type, spec) != spec:
            raise ImproperlyConfigured(f"Event type {spec.type} is declared twice.")
        _specs[spec.type] = spec


def registered() -> list[EventTypeSpec]:
    """Every registered type so far, in the order the apps registered them."""
    return list(_specs.values())


def specs() -> list[EventTypeSpec]:
    """Every registered type, for what must not be built before the apps are ready."""
    if not _specs:
        raise ImproperlyConfigured("No event type is registered yet: read the registry after the apps are ready.")
    return registered()


def known_patterns() -> list[str]:
    """What a subscription may name: `*`, a `prefix.*` wildcard over registered types, or a type."""
    prefixes = {
        ".".join(name.split(".")[:length]) + ".*" for name in _specs for length in range(1, name.count(".") + 1)
    }
    return ["*", *sorted(prefixes), *_specs]
