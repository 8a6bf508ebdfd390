"""The event catalog: every event type, what it means and the shape of its `data`.

The `data` serializers here are the one source of the event schemas: the OpenAPI document's
`webhooks` section is built from them, and `GET /v1/event-types` serves the JSON Schemas that
drf-spectacular derives from that document.
"""

import functools
from dataclasses import dataclass

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from events.models import EventType
from inventory.serializers import PetSerializer
from orders.models import OrderStatus
from orders.serializers import OrderSerializer, PaymentSerializer


class OrderEventData(serializers.Serializer):
    order = OrderSerializer()


class OrderStatusChangedData(OrderEventData):
    previous_status = serializers.ChoiceField(choices=OrderStatus.choices)
    new_status = serializers.ChoiceField(choices=OrderStatus.choices)


class PaymentEventData(serializers.Serializer):
    payment = PaymentSerializer()
    order = OrderSerializer()


class InventoryEventData(serializers.Serializer):
    pet = PetSerializer()


class WebhookTestData(serializers.Serializer):
    endpoint_id = serializers.UUIDField()
    message = serializers.CharField()


@dataclass(frozen=True)
class EventTypeSpec:
    type: EventType
    description: str
    data: type[serializers.Serializer]


CATALOG = [
    EventTypeSpec(EventType.ORDER_CREATED, "An order was placed; its stock is reserved.", OrderEventData),
    EventTypeSpec(EventType.ORDER_STATUS_CHANGED, "An order changed status.", OrderStatusChangedData),
    EventTypeSpec(
        EventType.ORDER_COMPLETED,
        "Processing finished: payment captured, stock committed, confirmation sent.",
        OrderEventData,
    ),
    EventTypeSpec(EventType.ORDER_CANCELLED, "An order was cancelled; see `order.cancel_reason`.", OrderEventData),
    EventTypeSpec(EventType.ORDER_SHIPPED, "Staff shipped an order.", OrderEventData),
    EventTypeSpec(EventType.ORDER_DELIVERED, "Staff marked an order delivered.", OrderEventData),
    EventTypeSpec(EventType.PAYMENT_SUCCEEDED, "The gateway captured an order's payment.", PaymentEventData),
    EventTypeSpec(EventType.PAYMENT_FAILED, "The gateway declined an order's payment.", PaymentEventData),
    EventTypeSpec(EventType.PAYMENT_REFUNDED, "A cancelled order's payment was refunded.", PaymentEventData),
    EventTypeSpec(
        EventType.INVENTORY_UPDATED,
        "A pet's stock changed (store-wide: staff endpoints with all_customers receive it).",
        InventoryEventData,
    ),
    EventTypeSpec(
        EventType.INVENTORY_LOW_STOCK,
        "A pet's stock fell to or below its low-stock threshold (store-wide).",
        InventoryEventData,
    ),
    EventTypeSpec(EventType.WEBHOOK_TEST, "Sent to one endpoint by POST /v1/webhooks/{id}/test.", WebhookTestData),
]


def _envelope(spec: EventTypeSpec) -> type[serializers.Serializer]:
    name = "".join(part.title() for part in spec.type.replace(".", "_").split("_")) + "Event"
    return type(
        name,
        (serializers.Serializer,),
        {
            "__doc__": spec.description,
            "id": serializers.UUIDField(help_text="The event id; also the `webhook-id` header. Deduplicate on it."),
            "type": serializers.ChoiceField(choices=[spec.type.value]),
            "timestamp": serializers.DateTimeField(),
            "data": spec.data(),
        },
    )


OPENAPI_WEBHOOKS = [
    OpenApiWebhook(
        name=spec.type.value,
        decorator=extend_schema(
            summary=spec.description,
            description="Signed per Standard Webhooks: headers `webhook-id`, `webhook-timestamp`, "
            "`webhook-signature`. Answer 2xx within the timeout.",
            request=_envelope(spec),
            responses={200: OpenApiResponse(description="Received; any 2xx will do.")},
        ),
    )
    for spec in CATALOG
]


@functools.cache
def event_types() -> list[dict]:
    """Each event type with its description and a self-contained JSON Schema of its `data`."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    components = document["components"]["schemas"]
    catalog = []
    for spec in CATALOG:
        envelope = document["webhooks"][spec.type.value]["post"]["requestBody"]["content"]["application/json"]
        envelope_schema = components[envelope["schema"]["$ref"].rsplit("/", 1)[-1]]
        catalog.append(
            {
                "type": spec.type.value,
                "description": spec.description,
                "schema": _self_contained(envelope_schema["properties"]["data"], components),
            }
        )
    return catalog


def _self_contained(schema: dict, components: dict) -> dict:
    """Inline the OpenAPI components a schema refers to as JSON Schema `$defs`."""
    definitions: dict[str, dict] = {}

    def rewrite(node):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                if name not in definitions:
                    definitions[name] = {}
                    definitions[name] = rewrite(components[name])
                return {"$ref": f"#/$defs/{name}"}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    if "$ref" in schema:  # the data object itself, rather than a reference to it
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    root = rewrite(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": definitions}
