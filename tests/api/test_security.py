"""Secrets stay secret: no API key or webhook secret in any log line, and none usable from a dump."""

import logging

import pytest
from django.core import serializers

from accounts.models import ApiKey
from tests.conftest import eventually, order_body
from webhooks.models import Delivery

pytestmark = pytest.mark.worker


def test_no_api_key_or_webhook_secret_reaches_the_logs(workers, customer, pet, httpserver, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/hook").respond_with_data(status=204)
    created = customer.client.post(
        "/v1/webhooks", {"url": httpserver.url_for("/hook"), "events": ["*"]}, format="json"
    ).json()
    rotated = customer.client.post(f"/v1/webhooks/{created['id']}/rotate-secret").json()
    customer.client.post("/v1/orders", order_body(pet), format="json")
    customer.client.get("/v1/orders", HTTP_AUTHORIZATION="Bearer pk_not_a_real_key")
    eventually(lambda: Delivery.objects.filter(status="succeeded").count() >= 4, message="deliveries")

    logs = caplog.text + workers.log.read_text()
    for secret in (customer.key, created["secret"], rotated["secret"], "pk_not_a_real_key"):
        assert secret not in logs
        assert secret.split("_", 1)[1] not in logs


def test_a_database_dump_reveals_no_api_key(customer, db):
    dump = serializers.serialize("json", ApiKey.objects.all())
    assert customer.key not in dump
    assert customer.key.split("_", 1)[1] not in dump
