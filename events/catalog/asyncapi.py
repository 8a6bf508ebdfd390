"""The AsyncAPI 3.0 document of the event bus (CONTRACT §8) and of the live event stream (§9).

Built from the event registry and the same envelope schemas as the OpenAPI document's `webhooks`
section (`events.catalog.schemas`): a type registered by any app appears here with no edit, one channel
per event type on the bus (its routing key) and every type on the stream.
"""

import copy
from urllib.parse import urlsplit

from django.conf import settings

from events.catalog import registry
from events.catalog.schemas import envelope_schema_name, openapi_document

AMQP_BINDING = "0.3.0"
HTTP_BINDING = "0.3.0"
COMPONENT_REF = "#/components/schemas/"


def document(*, host: str = "localhost:8000", protocol: str = "http") -> dict:
    """The document, with the stream served at `host` over `protocol` (http or https)."""
    openapi = openapi_document()
    exchange = getattr(settings, "EVENT_BUS_EXCHANGE", "petstore.events")
    schemas: dict[str, dict] = {}
    messages, channels, operations = {}, {}, {}
    for spec in registry.specs():
        name = envelope_schema_name(spec, openapi)
        _copy_schema(name, openapi["components"]["schemas"], schemas)
        messages[spec.type] = {
            "name": spec.type,
            "title": spec.type,
            "summary": spec.description,
            "contentType": "application/json",
            "payload": {"$ref": COMPONENT_REF + name},
            "bindings": {"amqp": {"messageType": spec.type, "bindingVersion": AMQP_BINDING}},
        }
        channels[spec.type] = {
            "address": spec.type,
            "title": spec.type,
            "description": f"Routing key `{spec.type}` on the topic exchange `{exchange}`; bind a queue with it "
            "or a pattern (`order.*`, `#`).",
            "servers": [{"$ref": "#/servers/bus"}],
            "messages": {spec.type: {"$ref": f"#/components/messages/{spec.type}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                    "bindingVersion": AMQP_BINDING,
                }
            },
        }
        operations[f"publish.{spec.type}"] = {
            "action": "send",
            "title": f"Publish {spec.type}",
            "summary": "Published after the event's transaction commits (through the outbox: nothing is missed). "
            "Properties: `content_type` application/json, `message_id` the event id (deduplicate on it), "
            "`type` the event type, `timestamp`; persistent, with publisher confirms.",
            "channel": {"$ref": f"#/channels/{spec.type}"},
            "messages": [{"$ref": f"#/channels/{spec.type}/messages/{spec.type}"}],
            "bindings": {"amqp": {"deliveryMode": 2, "timestamp": True, "bindingVersion": AMQP_BINDING}},
        }
    channels["eventStream"] = {
        "address": "/v1/events/stream",
        "title": "The live event stream",
        "description": "Server-Sent Events (`Accept: text/event-stream`, Bearer auth): each event as "
        "`id: <event id>`, `event: <type>`, `data: <envelope JSON>`, and a comment line at least every 15 s. "
        "`types=order.*,payment.succeeded` filters; `Last-Event-ID` (or `?after=`) resumes after an event with "
        "no gap and no repeat. A user sees their own events; staff see every customer's.",
        "servers": [{"$ref": "#/servers/api"}],
        "messages": {spec.type: {"$ref": f"#/components/messages/{spec.type}"} for spec in registry.specs()},
    }
    operations["streamEvents"] = {
        "action": "send",
        "title": "Stream events",
        "channel": {"$ref": "#/channels/eventStream"},
        "messages": [{"$ref": f"#/channels/eventStream/messages/{spec.type}"} for spec in registry.specs()],
        "bindings": {"http": {"method": "GET", "bindingVersion": HTTP_BINDING}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Petstore Events",
            "version": openapi["info"]["version"],
            "description": "Every event of the store, on the message bus for internal consumers and on the live "
            "stream for API clients. The envelope is the one webhooks deliver; the payload schemas are the event "
            "catalog's (`GET /v1/event-types`).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "bus": {
                "host": _bus_host(),
                "protocol": "amqp",
                "description": "RabbitMQ (`EVENT_BUS_URL`); every event goes to the durable topic exchange "
                f"`{exchange}`.",
            },
            "api": {
                "host": host,
                "protocol": protocol,
                "description": "The API; the stream needs `Authorization: Bearer <api key>`.",
                "security": [{"$ref": "#/components/securitySchemes/apiKey"}],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key."}},
        },
    }


def _bus_host() -> str:
    url = urlsplit(getattr(settings, "EVENT_BUS_URL", "") or "amqp://localhost:5672")
    return f"{url.hostname or 'localhost'}:{url.port or 5672}"  # never the credentials


def _copy_schema(name: str, components: dict, into: dict) -> None:
    """`name` and every schema it refers to, as they are among the OpenAPI components."""
    if name in into:
        return
    into[name] = schema = copy.deepcopy(components[name])
    for referred in _references(schema):
        _copy_schema(referred, components, into)


def _references(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"].removeprefix(COMPONENT_REF)] if isinstance(node.get("$ref"), str) else []
        return own + [name for value in node.values() for name in _references(value)]
    if isinstance(node, list):
        return [name for item in node for name in _references(item)]
    return []
