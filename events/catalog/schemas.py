"""The event catalog: every event type, what it means and the shape of its `data`.

The `data` serializers that the producing apps register (`events.catalog.registry`) are the one source of
the event schemas: the OpenAPI document's `webhooks` section is built from them, and
`GET /v1/event-types` serves the JSON Schemas that drf-spectacular derives from that document.
"""

import functools

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from events.catalog import registry
from events.catalog.registry import EventTypeSpec


def _envelope(spec: EventTypeSpec) -> type[serializers.Serializer]:
    name = "".join(part.title() for part in spec.type.replace(".", "_").split("_")) + "Event"
    return type(
        name,
        (serializers.Serializer,),
        {
            "__doc__": spec.description,
            "id": serializers.UUIDField(help_text="The event id; also the `webhook-id` header. Deduplicate on it."),
            "type": serializers.ChoiceField(choices=[str(spec.type)]),
            "timestamp": serializers.DateTimeField(),
            "subject": serializers.CharField(
                help_text="What the event is about: `order/<id>`, `pet/<id>`, `endpoint/<id>`."
            ),
            "sequence": serializers.IntegerField(
                min_value=1,
                help_text="The subject's events counted from 1, with no gaps: order by it, see what you missed.",
            ),
            "data": spec.data(),
        },
    )


# Read by drf-spectacular (SPECTACULAR_SETTINGS["WEBHOOKS"]) when it first builds the schema, after
# every app has registered its event types.
OPENAPI_WEBHOOKS = [
    OpenApiWebhook(
        name=str(spec.type),
        decorator=extend_schema(
            summary=spec.description,
            description="Signed per Standard Webhooks: headers `webhook-id`, `webhook-timestamp`, "
            "`webhook-signature`; a W3C `traceparent` header continues the trace of the request that caused "
            "the event. Answer 2xx within the timeout.",
            request=_envelope(spec),
            responses={200: OpenApiResponse(description="Received; any 2xx will do.")},
        ),
    )
    for spec in registry.specs()
]


@functools.cache
def openapi_document() -> dict:
    """The OpenAPI document, built once per process: the event schemas are read from it."""
    return SchemaGenerator().get_schema(request=None, public=True)


def envelope_schema_name(spec: EventTypeSpec, document: dict) -> str:
    """The name of the envelope's schema among the document's components."""
    envelope = document["webhooks"][spec.type]["post"]["requestBody"]["content"]["application/json"]
    return envelope["schema"]["$ref"].rsplit("/", 1)[-1]


@functools.cache
def event_types() -> list[dict]:
    """Each event type with its description and a self-contained JSON Schema of its `data`."""
    document = openapi_document()
    components = document["components"]["schemas"]
    catalog = []
    for spec in registry.specs():
        envelope_schema = components[envelope_schema_name(spec, document)]
        catalog.append(
            {
                "type": str(spec.type),
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
