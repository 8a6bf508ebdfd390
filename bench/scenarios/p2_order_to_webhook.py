"""P2: from each order's 201 to its `order.created` at the receiver, at 100 orders/s."""

import time

from bench.config import WEB
from bench.context import Bench
from bench.load import paced, percentile


def order_to_webhook(
    bench: Bench, seconds: float = 10, rate: float = 100, drain: float = 60, paths: list[str] | None = None
) -> list[float]:
    """Latency from each 201 to its order.created at the receiver: the first arrival, or with
    `paths`, the arrival at each of those endpoints. Those still missing `drain` seconds after
    the last order count with the time waited so far (a lower bound)."""
    bench.reset_receiver()
    created = {}

    def place():
        response = bench.session.post(f"{WEB}/v1/orders", json=bench.order)
        created[response.json()["id"]] = time.time()

    def arrivals() -> list[dict[str, float]]:
        stats = bench.receiver_stats()
        return [stats["by_path"].get(path, {}) for path in paths] if paths else [stats["arrivals"]]

    paced(rate, seconds, place)
    deadline = time.monotonic() + drain
    while min(map(len, arrivals())) < len(created) and time.monotonic() < deadline:
        time.sleep(0.5)
    seen, now = arrivals(), time.time()
    return [(at.get(order_id, now) - answered) * 1000 for at in seen for order_id, answered in created.items()]


def run(bench: Bench) -> None:
    bench.subscribe("/fast", events=("order.created",))  # the event it measures, as a receiver would
    latencies = order_to_webhook(bench)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    bench.row("P2 201 → order.created received, p50", p50, "ms", None, "≤ 30 ms", p50 <= 30)
    bench.row("P2 201 → order.created received, p99", p99, "ms", None, "≤ 150 ms", p99 <= 150)
    bench.unsubscribe_all()
