"""Metrics and logs: what an operator sees of one order, from its request to its webhook."""

import json
import logging

import pytest
from django.test import Client

from tests.conftest import eventually, order_body
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples in a Prometheus exposition."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_metrics_are_served_to_local_networks_only(settings):
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"


def test_a_metrics_token_replaces_the_network_rule(settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-me").get("/metrics").status_code == 200


def test_requests_are_counted_by_route_not_by_path(customer, pet):
    customer.client.get(f"/v1/pets/{pet.id}")
    text = Client().get("/metrics").content.decode()
    assert 'petstore_http_requests_total{method="GET",route="pet-detail",status="200"}' in text
    assert str(pet.id) not in text
    assert "petstore_outbox_undispatched_events" in text
    assert 'petstore_queue_depth{queue="webhooks"}' in text


def test_unknown_methods_are_counted_as_one_other_method(customer, pet):
    for method in ("FOO", "BREW", "X-ANYTHING-1"):
        customer.client.generic(method, f"/v1/pets/{pet.id}")
    text = Client().get("/metrics").content.decode()
    assert metric(text, 'petstore_http_requests_total{method="other",route="pet-detail"') >= 3
    assert "BREW" not in text and "FOO" not in text


@pytest.mark.worker
def test_worker_side_delivery_metrics_reach_the_endpoint(workers, customer, pet, httpserver):
    before = Client().get("/metrics").content.decode()
    httpserver.expect_request("/hook").respond_with_data(status=204)
    customer.client.post("/v1/webhooks", {"url": httpserver.url_for("/hook"), "events": ["*"]}, format="json")
    customer.client.post("/v1/orders", order_body(pet), format="json")
    eventually(lambda: Delivery.objects.filter(status="succeeded").count() >= 4, message="the deliveries")

    after = Client().get("/metrics").content.decode()
    for name in (
        'petstore_webhook_attempts_total{result="success"}',
        'petstore_webhook_deliveries_total{result="succeeded"}',
        "petstore_webhook_delivery_latency_seconds_count",
        'petstore_events_published_total{type="order.created"}',
    ):
        assert metric(after, name) > metric(before, name), name


@pytest.mark.worker
def test_one_order_can_be_followed_through_the_logs_by_its_id(workers, customer, pet, httpserver, caplog):
    caplog.set_level(logging.INFO)
    httpserver.expect_request("/hook").respond_with_data(status=204)
    customer.client.post("/v1/webhooks", {"url": httpserver.url_for("/hook"), "events": ["*"]}, format="json")
    response = customer.client.post("/v1/orders", order_body(pet), format="json", HTTP_X_REQUEST_ID="req-42")
    order_id = response.json()["id"]
    assert response["X-Request-ID"] == "req-42"
    eventually(lambda: Delivery.objects.filter(status="succeeded").count() >= 4, message="the deliveries")

    placed = next(record for record in caplog.records if record.getMessage().startswith("order placed"))
    assert (placed.request_id, placed.order_id) == ("req-42", order_id)
    worker_lines = [
        json.loads(line) for line in workers.log.read_text().splitlines() if line.startswith("{") and order_id in line
    ]
    messages = " | ".join(line["message"] for line in worker_lines)
    for step in (
        "order.created dispatched",
        "payment captured",
        "stock committed",
        "confirmation e-mail sent",
        "order completed",
        "order.completed to endpoint ",  # by id and host: never the URL's path or query
    ):
        assert step in messages, step
    ours = [line for line in worker_lines if not line["logger"].startswith("celery")]  # celery's carry task args
    assert [line for line in ours if line["order_id"] != order_id] == []
    assert any(line["delivery_id"] != "-" for line in worker_lines)
