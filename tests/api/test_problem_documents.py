"""Every error is an RFC 9457 problem document, whatever the client sends; never a 500."""

import json

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import order_body

pytestmark = pytest.mark.django_db


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def authorised(customer) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {customer.key}")


def test_invalid_json_is_400(customer):
    assert_problem(authorised(customer).post("/v1/orders", "{bad", content_type="application/json"), 400)


def test_wrong_content_type_is_415(customer):
    assert_problem(authorised(customer).post("/v1/orders", "items=1", content_type="text/plain"), 415)


def test_oversized_body_is_413(customer):
    huge = '{"items": [' + ",".join(['{"pet_id": "x", "quantity": 1}'] * 5000) + "]}"
    assert len(huge) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert_problem(authorised(customer).post("/v1/orders", huge, content_type="application/json"), 413)


def test_oversized_body_to_an_anonymous_endpoint_is_413():
    body = json.dumps({"username": "a", "password": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert_problem(Client().post("/v1/auth/tokens", body, content_type="application/json"), 413)


@pytest.mark.parametrize("path", ["/v1/users", "/v1/auth/tokens"])
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_400_not_500(path, opening):
    closing = "]" if opening == "[" else "}"
    body = opening * 3000 + "1" + closing * 3000
    problem = assert_problem(Client().post(path, body, content_type="application/json"), 400)
    assert "nested deeper" in problem["detail"]


def test_nesting_within_the_limit_is_parsed(customer, pet):
    body = order_body(pet)
    body["note"] = json.loads("[" * (settings.JSON_MAX_DEPTH - 2) + "]" * (settings.JSON_MAX_DEPTH - 2))
    response = authorised(customer).post("/v1/orders", json.dumps(body), content_type="application/json")
    assert response.status_code == 201


def test_brackets_inside_strings_do_not_count_as_nesting(customer, pet):
    body = {**order_body(pet), "note": "[{" * 1000 + '\\\\"]'}
    response = authorised(customer).post("/v1/orders", json.dumps(body), content_type="application/json")
    assert response.status_code == 201


def test_unknown_route_is_404(customer):
    assert_problem(authorised(customer).get("/v1/nothing-here"), 404)


def test_non_uuid_id_is_404(customer):
    assert_problem(authorised(customer).get("/v1/orders/42"), 404)


def test_wrong_method_is_405(customer):
    assert_problem(authorised(customer).put("/v1/orders", "{}", content_type="application/json"), 405)


def test_unicode_duplicate_keys_and_unknown_fields_are_handled(customer, pet):
    line = f'{{"pet_id": "{pet.id}", "quantity": 1, "colour": "🐶"}}'
    body = f'{{"items": [{line}], "payment": {{"method": "card", "token": "x", "token": "tok_visa"}}, "note": "ünï"}}'
    assert authorised(customer).post("/v1/orders", body, content_type="application/json").status_code == 201


def test_a_json_array_body_is_400(customer):
    assert_problem(authorised(customer).post("/v1/orders", "[1, 2]", content_type="application/json"), 400)


def test_health_and_readiness():
    assert Client().get("/healthz").json() == {"status": "ok"}
    assert Client().get("/readyz").status_code == 200


def test_readiness_is_503_problem_when_the_broker_is_down(monkeypatch):
    from petstore.celery import app

    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")  # nothing listens there
    body = assert_problem(Client().get("/readyz"), 503)
    assert body["detail"] == "Not ready: the broker did not answer."
