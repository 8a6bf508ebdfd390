"""P6F: what filters cost the fan-out. One event (a restock's `inventory.updated`) to 10,000
endpoints, first without filters (the baseline), then with a filter on every endpoint, which the
event passes: both runs deliver to all of them, so the difference is the filters' evaluation."""

import json
import time

from bench.config import WEB
from bench.context import Bench
from harness import wait_for

ENDPOINTS = 10_000
# Four conditions, as a customer would write them: the type, a number, money, a list.
FILTER = {
    "type": "inventory.updated",
    "data.pet.stock": {"$gte": 1},
    "data.pet.price": {"$lt": "1000.00"},
    "data.pet.species": {"$in": ["fish", "dog"]},
}


def fan_out(bench: Bench, *, spec: dict | None) -> float:
    """Seconds from the restock to the last of the endpoints' requests."""
    bench.subscribe("/fast")
    copy = ["--filter", json.dumps(spec)] if spec else []
    bench.stack.manage("bench_setup", "copy-first-endpoint", "--count", str(ENDPOINTS - 1), *copy)
    bench.reset_receiver()
    started = time.monotonic()
    bench.session.post(f"{WEB}/v1/pets/{bench.pet_id}/restock", json={"quantity": 1}).raise_for_status()
    wait_for(lambda: bench.receiver_stats()["requests"] >= ENDPOINTS, timeout=300, what="the fan-out")
    took = time.monotonic() - started
    bench.unsubscribe_all()
    bench.settle()
    return took


def run(bench: Bench) -> None:
    without = fan_out(bench, spec=None)
    bench.row(f"P6F baseline: one event to {ENDPOINTS:,} endpoints without filters", without, "s", None, "—", True)
    filtered = fan_out(bench, spec=FILTER)
    bench.row(
        "P6F same, a filter on every endpoint (4 conditions, all pass)",
        filtered,
        "s",
        without,
        "≤ 1.25 × without filters",
        filtered <= 1.25 * without,
    )
