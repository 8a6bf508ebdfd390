"""Malformed query strings and headers are 400/415 problem documents on every path, never a 500."""

import base64

import pytest

from tests.conftest import order_body

pytestmark = pytest.mark.django_db

LISTS = ["/v1/pets", "/v1/orders", "/v1/events", "/v1/webhooks", "/v1/auth/tokens"]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return body


def cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "value",
    [
        "cD1ub3QtYS11dWlk",  # p=not-a-uuid: decodes, but names no id
        cursor("o=1&r=0&p=01a23afa-34a5-7980-98cb-48a14542d68"),  # one digit short
        cursor("o=-1"),
        "not base64 at all!",
    ],
)
def test_a_cursor_the_api_did_not_give_is_a_400_on_every_list(customer, path, value):
    body = assert_problem(customer.client.get(path, {"cursor": value}), 400)
    assert "cursor" in body["errors"]


def test_the_cursors_the_api_gives_still_page_through(customer, pet):
    for _ in range(3):
        assert customer.client.post("/v1/orders", order_body(pet), format="json").status_code == 201
    first = customer.client.get("/v1/orders", {"limit": 2}).json()
    second = customer.client.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    back = customer.client.get(second["previous"]).json()
    assert [order["id"] for order in back["results"]] == [order["id"] for order in first["results"]]
