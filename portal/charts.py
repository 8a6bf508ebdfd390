"""An endpoint's health over the last 24 hours, for the portal's charts: its deliveries per hour by
result, and its attempts' latency (p50, p95) per hour."""

from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint

HOURS = 24
# Latency is read from at most this many of the period's latest attempts: a busy endpoint's page
# costs the same as a quiet one's.
LATENCY_SAMPLE = 20_000


def _hours(now: datetime) -> list[datetime]:
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=HOURS - 1 - index) for index in range(HOURS)]


def percentile(sorted_values: list[int], fraction: float) -> int | None:
    """The nearest-rank percentile of values sorted ascending (None for none)."""
    if not sorted_values:
        return None
    rank = max(int(-(-fraction * len(sorted_values) // 1)), 1)  # ceil, at least the first
    return sorted_values[rank - 1]


def endpoint_health(endpoint: Endpoint, *, now: datetime | None = None) -> dict:
    """`{"hours": [...], "deliveries": {status: [count per hour]}, "latency": {"p50": [...], "p95": [...]}}`."""
    now = now or timezone.now()
    hours = _hours(now)
    since = hours[0]
    index = {hour: position for position, hour in enumerate(hours)}

    deliveries = {status: [0] * HOURS for status in DeliveryStatus.values}
    rows = (
        Delivery.objects.filter(endpoint=endpoint, created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .values("hour", "status")
        .annotate(count=Count("id"))
    )
    for row in rows:
        if (position := index.get(row["hour"])) is not None:
            deliveries[row["status"]][position] += row["count"]

    durations: list[list[int]] = [[] for _ in hours]
    attempts = (
        Attempt.objects.filter(delivery__endpoint=endpoint, attempted_at__gte=since)
        .order_by("-attempted_at")
        .values_list("attempted_at", "duration_ms")[:LATENCY_SAMPLE]
    )
    for attempted_at, duration in attempts:
        hour = attempted_at.replace(minute=0, second=0, microsecond=0)
        if (position := index.get(hour)) is not None:
            durations[position].append(duration)
    for values in durations:
        values.sort()

    return {
        "hours": [hour.isoformat() for hour in hours],
        "deliveries": deliveries,
        "latency": {
            "p50": [percentile(values, 0.50) for values in durations],
            "p95": [percentile(values, 0.95) for values in durations],
        },
    }
