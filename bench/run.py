"""`make bench`: every scenario against the real stack (gunicorn, Celery worker and beat,
PostgreSQL, Redis) on this machine, each beside a baseline measured in the same run.
`python -m bench.run P7 P8` runs only those scenarios (B1 P1 B-burst B-flash P2 P3 P4 P5 P6 P6F P7 P8 M1
P4X).

Prints one table: scenario, our figure, the baseline, the ratio, the target, pass or fail.

The stack comes from `harness`; the scenarios are `bench/scenarios/*`; the data set-up between
them is the `bench_setup` management command, run in a process of its own like any `manage.py`
command, so this process never sets Django up.
"""

import os
import sys
import time
from pathlib import Path

import redis

from bench.config import BROKER_URL, CACHE_URL, DATABASE_URL, LOGS, RECEIVER_PORT, WEB_PORT
from bench.context import Bench
from bench.scenarios import (
    b1_budgets,
    b_burst,
    m1_memory,
    p1_intake,
    p2_order_to_webhook,
    p3_drain,
    p4_overload,
    p4_sustained,
    p5_hanging_endpoint,
    p6_fan_out,
    p6f_filtered_fan_out,
    p7_ordered,
    p8_rate_limit,
)
from harness import PYTHON, HarnessError, fresh_database, port_open, wait_for

# After P1 (the API alone), in this order, once the workers run; True: let the backlog drain after.
WITH_WORKERS = [
    ("B-BURST", lambda bench: b_burst.run(bench, flash=False), True),
    ("B-FLASH", lambda bench: b_burst.run(bench, flash=True), True),
    ("P2", p2_order_to_webhook, True),
    ("P5", p5_hanging_endpoint, True),
    ("P6", p6_fan_out, True),
    ("P6F", p6f_filtered_fan_out, True),
    ("P4", p4_sustained, False),
    ("M1", m1_memory, True),  # the memory P4 left
    ("P3", p3_drain, False),
    ("P7", p7_ordered, True),
    ("P8", p8_rate_limit, True),
    ("P4X", p4_overload, False),  # last: it leaves a backlog behind
]
SCENARIOS = ["B1", "P1", *(name for name, _, _ in WITH_WORKERS)]


def run(bench: Bench, chosen: list[str]) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    if "B1" in chosen:
        print("B1: one order through the budget test…", flush=True)
        b1_budgets.run(bench)
    print("Preparing a fresh bench database and the stack…", flush=True)
    fresh_database(DATABASE_URL)
    bench.stack.manage("migrate", "--noinput")
    for url in (BROKER_URL, CACHE_URL):
        redis.Redis.from_url(url).flushdb()
    bench.stack.spawn("receiver", [PYTHON, "-m", "bench.receiver", "--port", str(RECEIVER_PORT)])
    try:
        bench.stack.start_web(port=WEB_PORT, workers=2, threads=4)
        wait_for(lambda: port_open(RECEIVER_PORT), timeout=10, what="the receiver")
        bench.setup()
        if "P1" in chosen:
            p1_intake.run(bench)
        bench.forget_unprocessed_orders()
        bench.start_workers()
        bench.stack.start_beat(loglevel="WARNING", scheduler="django_celery_beat.schedulers:DatabaseScheduler")
        for name, scenario, settle_after in WITH_WORKERS:
            if name in chosen:
                scenario(bench) if callable(scenario) else scenario.run(bench)
                if settle_after:
                    bench.settle()
    finally:
        bench.stack.stop_all()


def print_table(rows: list[tuple]) -> None:
    header = ("scenario", "ours", "baseline (same run)", "ratio", "target", "result")
    table = [header, *rows]
    widths = [max(len(str(row[column])) for row in table) for column in range(len(header))]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    print(f"\nPetstore Events benchmarks on {os.cpu_count()} × {cpu}, {time.strftime('%Y-%m-%d')}\n")
    lines = [
        "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
        for row in table
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    print("\n".join(lines))
    (LOGS / "results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    chosen = [name.upper() for name in sys.argv[1:]] or SCENARIOS
    if unknown := set(chosen) - set(SCENARIOS):
        raise SystemExit(f"bench: no scenario {', '.join(sorted(unknown))}; choose among {' '.join(SCENARIOS)}")
    bench = Bench()
    try:
        run(bench, chosen)
    except HarnessError as error:
        raise SystemExit(f"bench: {error}") from error
    print_table(bench.rows)


if __name__ == "__main__":
    main()
