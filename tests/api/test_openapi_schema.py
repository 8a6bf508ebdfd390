"""The served OpenAPI schema is valid, complete and documents its errors."""

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_and_validates(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_schema_is_served_as_openapi_3_1_with_problem_responses():
    schema = Client().get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.1")
    operation = schema["paths"]["/v1/orders"]["post"]
    assert {"201", "400", "401", "409", "422", "429"} <= set(operation["responses"])
    problem = operation["responses"]["409"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]


def test_docs_page_is_served():
    assert Client().get("/v1/docs").status_code == 200
