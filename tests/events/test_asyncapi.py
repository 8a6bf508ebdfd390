"""GET /v1/asyncapi: an AsyncAPI 3.0 document of the bus and the stream, generated from the event
registry, that the AsyncAPI project's own parser (tools/asyncapi, installed by `make test`) accepts."""

import json
import subprocess

import pytest

from events.catalog import registry
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

VALIDATOR = ROOT / "tools" / "asyncapi" / "validate.mjs"


@pytest.fixture
def document(customer) -> dict:
    response = customer.client.get("/v1/asyncapi")
    assert response.status_code == 200
    return response.json()


def test_the_asyncapi_parser_accepts_the_document(document, tmp_path):
    assert (ROOT / "tools" / "asyncapi" / "node_modules").exists(), "run `make test` (it runs npm ci in tools/asyncapi)"
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    diagnostics = [json.loads(line) for line in result.stdout.splitlines()]
    serious = [diagnostic for diagnostic in diagnostics if diagnostic["severity"] <= 1]  # errors and warnings
    assert result.returncode == 0 and not serious, result.stdout + result.stderr


def test_the_parser_refuses_a_broken_document(document, tmp_path):
    """The check above can fail: a channel pointing at a message that does not exist."""
    first = next(iter(document["channels"]))
    document["channels"][first]["messages"] = {"nothing": {"$ref": "#/components/messages/nothing"}}
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1


def test_one_bus_channel_per_registered_type_and_the_stream_carries_them_all(document):
    types = [spec.type for spec in registry.specs()]
    bus = {key: channel for key, channel in document["channels"].items() if key != "eventStream"}
    assert sorted(channel["address"] for channel in bus.values()) == sorted(types)
    for channel in bus.values():
        exchange = channel["bindings"]["amqp"]["exchange"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == ("petstore.events", "topic", True)
    assert document["channels"]["eventStream"]["address"] == "/v1/events/stream"
    assert sorted(document["channels"]["eventStream"]["messages"]) == sorted(types)


def test_payloads_are_the_catalogs_envelopes(document, customer):
    """Each message's payload is the envelope of the OpenAPI `webhooks` section, `data` included."""
    openapi = customer.client.get("/v1/schema?format=json").json()
    schemas = document["components"]["schemas"]
    for spec in registry.specs():
        payload = document["components"]["messages"][spec.type]["payload"]["$ref"]
        webhook = openapi["webhooks"][spec.type]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert payload == webhook["$ref"]
        name = payload.rsplit("/", 1)[-1]
        assert schemas[name] == openapi["components"]["schemas"][name]


def test_the_openapi_schema_lists_the_stream_and_the_asyncapi_document(customer):
    paths = customer.client.get("/v1/schema?format=json").json()["paths"]
    assert "text/event-stream" in paths["/v1/events/stream"]["get"]["responses"]["200"]["content"]
    assert "429" in paths["/v1/events/stream"]["get"]["responses"]
    assert "/v1/asyncapi" in paths
