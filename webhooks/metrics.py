"""Webhook metrics: attempts and deliveries by result, latency, and the retries due now."""

from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from webhooks.models import Delivery, DeliveryStatus

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


class DueDeliveriesCollector:
    """Pending deliveries whose attempt is due, read at scrape time."""

    def collect(self):
        due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()).count()
        yield GaugeMetricFamily("petstore_webhook_due_retries", "Pending deliveries whose attempt is due", value=due)
