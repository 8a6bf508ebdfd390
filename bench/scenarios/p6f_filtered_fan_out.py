"""P6F: what filters cost the fan-out. One event (a restock's `inventory.updated`) to 10,000
endpoints without filters (the baseline), and with the same filter on every endpoint, which the
event passes: both deliver to all of them, so the difference is the filters' cost (compiled
when the subscriptions are read, then evaluated for each endpoint)."""

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


def fan_out(bench: Bench, *, spec: dict | None, pet_id: str) -> float:
    """Seconds from the restock to the last of the endpoints' requests."""
    bench.subscribe("/fast")
    copy = ["--filter", json.dumps(spec)] if spec else []
    bench.stack.manage("bench_setup", "copy-first-endpoint", "--count", str(ENDPOINTS - 1), *copy)
    bench.reset_receiver()
    started = time.monotonic()
    bench.session.post(f"{WEB}/v1/pets/{pet_id}/restock", json={"quantity": 1}).raise_for_status()
    wait_for(lambda: bench.receiver_stats()["requests"] >= ENDPOINTS, timeout=300, what="the fan-out")
    took = time.monotonic() - started
    bench.unsubscribe_all()
    bench.settle()
    return took


def run(bench: Bench) -> None:
    # a pet of its own, with room to restock whichever scenarios ran before (or none)
    pet = {"name": "P6F fish", "species": "fish", "price": "1.00", "stock": 0}
    pet_id = bench.session.post(f"{WEB}/v1/pets", json=pet).json()["id"]
    # without, with, with, without: each run leaves 10,000 more (disabled) endpoints and their
    # deliveries in the tables, so the order is mirrored and each figure is the mean of two
    runs = {"without": [], "with": []}
    for name in ("without", "with", "with", "without"):
        runs[name].append(fan_out(bench, spec=FILTER if name == "with" else None, pet_id=pet_id))
    without, filtered = (sum(runs[name]) / 2 for name in ("without", "with"))
    shown = ", ".join(f"{took:.1f}" for took in runs["without"])
    bench.row(
        f"P6F baseline: one event to {ENDPOINTS:,} endpoints without filters (mean of {shown} s)",
        without,
        "s",
        None,
        "—",
        True,
    )
    shown = ", ".join(f"{took:.1f}" for took in runs["with"])
    bench.row(
        f"P6F same, a filter on every endpoint (4 conditions, all pass; mean of {shown} s)",
        filtered,
        "s",
        without,
        "≤ 1.25 × without filters",
        filtered <= 1.25 * without,
    )
