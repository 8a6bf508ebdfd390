"""The event catalog and the OpenAPI `webhooks` section describe the same events."""

import pytest
from django.test import Client

from events.models import EventType

pytestmark = pytest.mark.django_db


def test_the_catalog_lists_every_event_type_with_a_schema():
    catalog = Client().get("/v1/event-types").json()
    assert [entry["type"] for entry in catalog] == EventType.values
    created = next(entry for entry in catalog if entry["type"] == "order.created")
    assert created["schema"]["properties"]["order"] == {"$ref": "#/$defs/Order"}
    assert "payment_status" in created["schema"]["$defs"]["Order"]["properties"]


def test_the_openapi_document_has_a_webhook_per_event_type():
    schema = Client().get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert sorted(schema["webhooks"]) == sorted(EventType.values)
    body = schema["webhooks"]["payment.succeeded"]["post"]["requestBody"]["content"]["application/json"]
    envelope = schema["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert set(envelope["properties"]) == {"id", "type", "timestamp", "data"}
