"""Generated requests against every operation of the served OpenAPI schema (schemathesis):
authenticated, valid and invalid, at least 1,000 cases. No 5xx, and every response conforms to
the schema: its status code, content type and body."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from petstore.wsgi import application

schema = schemathesis.openapi.from_wsgi("/v1/schema?format=json", application)
CASES_PER_OPERATION = 40  # for 29 operations: about 1,100 cases


@pytest.fixture
def api_key(make_customer) -> str:
    return make_customer(staff=True).key


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes connections after each request
@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema(case, api_key, pet):
    response = case.call(headers={"Authorization": f"Bearer {api_key}"})
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
