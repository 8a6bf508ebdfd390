"""P6: one event (a restock's `inventory.updated`) to 1,000 endpoints."""

import time

from bench.config import WEB
from bench.context import Bench
from harness import wait_for


def run(bench: Bench, endpoints: int = 1000) -> None:
    bench.subscribe("/fast")
    bench.stack.manage("bench_setup", "copy-first-endpoint", "--count", str(endpoints - 1))
    bench.reset_receiver()
    started = time.monotonic()
    bench.session.post(f"{WEB}/v1/pets/{bench.pet_id}/restock", json={"quantity": 1}).raise_for_status()
    wait_for(lambda: bench.receiver_stats()["requests"] >= endpoints, timeout=60, what="the fan-out")
    took = time.monotonic() - started
    bench.row(f"P6 one event to {endpoints:,} endpoints", took, "s", None, "≤ 2 s", took <= 2)
    bench.unsubscribe_all()
