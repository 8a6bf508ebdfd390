"""Prometheus metrics. Counters and histograms are written by whichever process observes them (web
or worker) into PROMETHEUS_MULTIPROC_DIR; `GET /metrics` merges them, and reads the gauges that
describe shared state (outbox backlog, due retries, queue depth) from the database and broker."""

import ipaddress
import json
import os
import time

from django.conf import settings
from django.db.models import Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from petstore.problems import PROBLEM_CONTENT_TYPE, problem

HTTP_REQUESTS = Counter("petstore_http_requests_total", "API requests", ["route", "method", "status"])
HTTP_DURATION = Histogram(
    "petstore_http_request_duration_seconds",
    "API request duration",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_PUBLISHED = Counter("petstore_events_published_total", "Events dispatched to their consumers", ["type"])
DELIVERY_ATTEMPTS = Counter("petstore_webhook_attempts_total", "Webhook delivery attempts by result", ["result"])
DELIVERIES = Counter("petstore_webhook_deliveries_total", "Webhook deliveries finished, by result", ["result"])
DELIVERY_LATENCY = Histogram(
    "petstore_webhook_delivery_latency_seconds",
    "From the event to the receiver's 2xx",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86400),
)
ATTEMPTS_PER_DELIVERY = Histogram(
    "petstore_webhook_attempts_per_delivery",
    "Attempts a finished delivery took",
    buckets=(1, 2, 3, 4, 5, 6, 7, 8, 10, 20),
)


class SharedStateCollector:
    """Gauges read at scrape time, so every process reports the same truth."""

    def collect(self):
        from events.models import Event
        from petstore.celery import app
        from webhooks.models import Delivery, DeliveryStatus

        now = timezone.now()
        backlog = Event.objects.filter(dispatched_at__isnull=True).aggregate(oldest=Min("created_at"))
        undispatched = Event.objects.filter(dispatched_at__isnull=True).count()
        yield GaugeMetricFamily("petstore_outbox_undispatched_events", "Events not yet dispatched", value=undispatched)
        age = (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0
        yield GaugeMetricFamily(
            "petstore_outbox_oldest_undispatched_age_seconds", "Age of the oldest undispatched event", value=age
        )
        due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now).count()
        yield GaugeMetricFamily("petstore_webhook_due_retries", "Pending deliveries whose attempt is due", value=due)
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
        return request.headers.get("Authorization") == f"Bearer {settings.METRICS_TOKEN}"
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
    registry.register(SharedStateCollector())
    return registry


class RequestMetricsMiddleware:
    """Counts every request by route name (not by path: ids would explode the series)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        route = request.resolver_match.view_name if request.resolver_match else "unmatched"
        HTTP_REQUESTS.labels(route, request.method, response.status_code).inc()
        HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
        return response
