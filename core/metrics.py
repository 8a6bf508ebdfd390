"""Prometheus metrics of the web process. Counters and histograms are written by whichever process
observes them (web or worker) into PROMETHEUS_MULTIPROC_DIR; `GET /metrics` merges them. Each app
declares its own metrics beside its code (`events.metrics`, `webhooks.metrics`)."""

import time

from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("petstore_http_requests_total", "API requests", ["route", "method", "status"])
HTTP_DURATION = Histogram(
    "petstore_http_request_duration_seconds",
    "API request duration",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


# RFC 9110's methods and PATCH; a WSGI server passes any token a client sends as the method.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def method_label(method: str | None) -> str:
    return method if method in KNOWN_METHODS else "other"


class RequestMetricsMiddleware:
    """Counts every request by route name (not by path: ids would explode the series) and by
    method, any method beyond the standard ones counted as `other` (each would be a new series)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        route = request.resolver_match.view_name if request.resolver_match else "unmatched"
        HTTP_REQUESTS.labels(route, method_label(request.method), response.status_code).inc()
        HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
        return response
