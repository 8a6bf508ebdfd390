"""P2: from each order's due time (its place in a 100 orders/s schedule) to its `order.created`
at the receiver: the wait for a free client, the request and the pipeline, all counted."""

import time

from bench.config import WEB
from bench.context import Bench
from bench.load import Paced, paced, percentile


def order_to_webhook(
    bench: Bench, seconds: float = 10, rate: float = 100, drain: float = 60, paths: list[str] | None = None
) -> tuple[list[float], Paced]:
    """Latency from each order's due time to its order.created at the receiver: the first
    arrival, or with `paths`, the arrival at each of those endpoints. Those still missing `drain`
    seconds after the last order count with the time waited so far (a lower bound). With the
    load's record, which says whether it held its rate."""
    bench.reset_receiver()

    def place():
        return bench.client().post(f"{WEB}/v1/orders", json=bench.order).json()["id"]

    def arrivals() -> list[dict[str, float]]:
        stats = bench.receiver_stats()
        return [stats["by_path"].get(path, {}) for path in paths] if paths else [stats["arrivals"]]

    load = paced(rate, seconds, place)
    created = {call.result: call.due for call in load.calls}
    deadline = time.monotonic() + drain
    while min(map(len, arrivals())) < len(created) and time.monotonic() < deadline:
        time.sleep(0.5)
    seen, now = arrivals(), time.time()
    latencies = [(at.get(order_id, now) - due) * 1000 for at in seen for order_id, due in created.items()]
    return latencies, load


def run(bench: Bench) -> None:
    bench.subscribe("/fast", events=("order.created",))  # the event it measures, as a receiver would
    latencies, load = order_to_webhook(bench)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    behind = f" {load.verdict()}" if load.behind else ""
    held = not load.behind
    bench.row(f"P2 order due → order.created received, p50{behind}", p50, "ms", None, "≤ 30 ms", p50 <= 30 and held)
    bench.row(f"P2 same, p99{behind}", p99, "ms", None, "≤ 150 ms", p99 <= 150 and held)
    bench.unsubscribe_all()
