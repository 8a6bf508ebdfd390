"""The outbox's metrics: events dispatched (a counter), and its backlog (read at scrape time)."""

from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from events.selectors import outbox_backlog

EVENTS_PUBLISHED = Counter("petstore_events_published_total", "Events dispatched to their consumers", ["type"])


class OutboxCollector:
    """The undispatched events and the age of the oldest, the same truth for every process."""

    def collect(self):
        backlog = outbox_backlog()
        yield GaugeMetricFamily(
            "petstore_outbox_undispatched_events", "Events not yet dispatched", value=backlog["count"]
        )
        age = (timezone.now() - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0
        yield GaugeMetricFamily(
            "petstore_outbox_oldest_undispatched_age_seconds", "Age of the oldest undispatched event", value=age
        )
