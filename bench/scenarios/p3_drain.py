"""P3: 20,000 pending deliveries drained by the workers, against a bare signing + POST loop in one
and in two processes."""

import subprocess
import time

import psycopg

from bench.config import DATABASE_URL, ENV, RECEIVER
from bench.context import Bench
from harness import PYTHON, ROOT


def signing_loop(processes: int, count: int) -> float:
    """Posts per second of `processes` bare loops side by side, a quarter of `count` in all (which
    keeps the loop under a minute), over the wall time from the first post to the last."""
    per_process = count // 4 // processes
    command = [PYTHON, "-m", "bench.signing_loop", f"{RECEIVER}/fast", str(per_process)]
    runners = [
        subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True) for _ in range(processes)
    ]
    spans = [tuple(map(float, runner.communicate()[0].split())) for runner in runners]
    # from the first post of any loop to the last post of any: their wall time side by side
    return per_process * processes / (max(end for _, end in spans) - min(start for start, _ in spans))


def run(bench: Bench, count: int = 20_000) -> None:
    one, two = signing_loop(1, count), signing_loop(2, count)
    bench.row("P3 baseline: signing + POST loop, 1 process", one, "posts/s", None, "—", True)
    bench.subscribe("/fast")
    bench.stack.stop_workers()
    bench.stack.manage("bench_setup", "due-deliveries", "--url", f"{RECEIVER}/fast", "--endpoints", str(count // 100))
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        # As autovacuum would have by now: fresh statistics for the 20,000 new rows, and the
        # earlier scenarios' dead rows cleared, so the drain does not share the cores with it.
        connection.execute("VACUUM ANALYZE")
    bench.reset_receiver()
    bench.start_workers()
    deadline = time.monotonic() + 60
    while bench.receiver_stats()["requests"] < count and time.monotonic() < deadline:
        time.sleep(0.5)
    ours = bench.arrival_rate("/fast", count)  # first arrival to last, or to now after the minute
    bench.row(
        f"P3 {count:,} pending deliveries drained",
        ours,
        "deliveries/s",
        two,
        "≥ 1,500/s and ≥ 0.5 × 2-process loop",
        ours >= 1500 and ours >= 0.5 * two,
    )
    bench.unsubscribe_all()
