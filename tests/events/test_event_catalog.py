"""The event catalog and the OpenAPI `webhooks` section describe the same events."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

# CONTRACT §5: every event type, registered by the apps that produce them.
CONTRACT_TYPES = [
    "order.created",
    "order.status_changed",
    "order.completed",
    "order.cancelled",
    "order.shipped",
    "order.delivered",
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "inventory.updated",
    "inventory.low_stock",
    "webhook.test",
    "endpoint.disabled",
    "endpoint.enabled",
    "delivery.exhausted",
]


def test_the_catalog_lists_every_event_type_with_a_schema():
    catalog = Client().get("/v1/event-types").json()
    assert [entry["type"] for entry in catalog] == CONTRACT_TYPES
    created = next(entry for entry in catalog if entry["type"] == "order.created")
    assert created["schema"]["properties"]["order"] == {"$ref": "#/$defs/Order"}
    assert "payment_status" in created["schema"]["$defs"]["Order"]["properties"]


def test_the_openapi_document_has_a_webhook_per_event_type():
    schema = Client().get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert sorted(schema["webhooks"]) == sorted(CONTRACT_TYPES)
    body = schema["webhooks"]["payment.succeeded"]["post"]["requestBody"]["content"]["application/json"]
    envelope = schema["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert set(envelope["properties"]) == {"id", "type", "timestamp", "subject", "sequence", "data"}
