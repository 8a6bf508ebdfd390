"""`GET /metrics`: every process's counters merged, and the gauges that describe shared state
(outbox and bus backlogs, due retries, queue depth) read from the database and broker at scrape time."""

import hmac
import ipaddress
import json
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from core.problems import PROBLEM_CONTENT_TYPE, problem
from events.metrics import BusCollector, OutboxCollector
from petstore.celery import app
from webhooks.metrics import DueDeliveriesCollector


class QueueDepthCollector:
    def collect(self):
        depth = GaugeMetricFamily("petstore_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
        try:
            with app.connection_for_read() as connection:
                for queue in settings.CELERY_TASK_QUEUES:
                    depth.add_metric([queue.name], _queue_depth(connection, queue.name))
        except OSError:
            pass  # the broker is down: report no depth rather than fail the scrape
        yield depth


def _queue_depth(connection, name: str) -> int:
    try:
        return connection.default_channel.queue_declare(name, passive=True).message_count
    except connection.channel_errors:
        return 0  # never declared: no worker has consumed it yet, and nothing waits in it


def allowed(request: HttpRequest) -> bool:
    if settings.METRICS_TOKEN:
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {settings.METRICS_TOKEN}".encode())
    address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "0.0.0.0"))
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        body = problem(status=403, detail="Metrics are served to METRICS_ALLOWED_NETWORKS or with METRICS_TOKEN.")
        return HttpResponse(json.dumps(body), status=403, content_type=PROBLEM_CONTENT_TYPE)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY  # a single process: its own metrics are all there are
    output = generate_latest(registry) + generate_latest(_shared_state_registry())
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def _shared_state_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    for collector in (OutboxCollector(), BusCollector(), DueDeliveriesCollector(), QueueDepthCollector()):
        registry.register(collector)
    return registry
