"""The outbox's metrics: events dispatched and published to the bus (counters), and the backlogs
of both (read at scrape time)."""

from django.conf import settings
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from events.selectors import bus_backlog, outbox_backlog

# Exported under the name of the signal it counts (`events_published`), which dashboards know.
EVENTS_DISPATCHED = Counter("petstore_events_published_total", "Events dispatched to their consumers", ["type"])
BUS_PUBLISHED = Counter("petstore_bus_published_total", "Events the event bus confirmed", ["type"])
BUS_UNCONFIRMED = Counter(
    "petstore_bus_unconfirmed_total", "Publishes to the event bus not confirmed (left for the relay)"
)


class OutboxCollector:
    """The undispatched events and the age of the oldest, the same truth for every process."""

    def collect(self):
        yield from backlog_gauges(
            outbox_backlog(),
            ("petstore_outbox_undispatched_events", "Events not yet dispatched"),
            ("petstore_outbox_oldest_undispatched_age_seconds", "Age of the oldest undispatched event"),
        )


class BusCollector:
    """The events the bus has not confirmed yet, and the age of the oldest (with a bus only)."""

    def collect(self):
        if not settings.EVENT_BUS_URL:
            return
        yield from backlog_gauges(
            bus_backlog(),
            ("petstore_bus_backlog_events", "Events not yet confirmed by the event bus"),
            ("petstore_bus_oldest_unpublished_age_seconds", "Age of the oldest event the bus did not confirm"),
        )


def backlog_gauges(backlog: dict, count: tuple[str, str], age: tuple[str, str]):
    """A backlog's size and the age of its oldest event (`backlog`: `count` and `oldest`)."""
    yield GaugeMetricFamily(*count, value=backlog["count"])
    oldest = (timezone.now() - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0
    yield GaugeMetricFamily(*age, value=oldest)
