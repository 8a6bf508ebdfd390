"""`make bench`: every scenario against the real stack (gunicorn, Celery worker and beat,
PostgreSQL, Redis) on this machine, each beside a baseline measured in the same run.

Prints one table: scenario, our figure, the baseline, the ratio, the target, pass or fail.

The stack comes from `harness`; the scenarios are `bench/scenarios/*`; the data set-up between
them is the `bench_setup` management command, run in a process of its own like any `manage.py`
command, so this process never sets Django up.
"""

import os
import time
from pathlib import Path

import redis

from bench.config import DATABASE_URL, LOGS, RECEIVER_PORT, REDIS, WEB_PORT
from bench.context import Bench
from bench.scenarios import (
    b1_budgets,
    m1_memory,
    p1_intake,
    p2_order_to_webhook,
    p3_drain,
    p4_sustained,
    p5_hanging_endpoint,
    p6_fan_out,
)
from harness import PYTHON, HarnessError, fresh_database, port_open, wait_for


def run(bench: Bench) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    print("B1: one order through the budget test…", flush=True)
    b1_budgets.run(bench)
    print("Preparing a fresh bench database and the stack…", flush=True)
    fresh_database(DATABASE_URL)
    bench.stack.manage("migrate", "--noinput")
    for database in (10, 11):
        redis.Redis.from_url(f"{REDIS}/{database}").flushdb()
    bench.stack.spawn("receiver", [PYTHON, "-m", "bench.receiver", "--port", str(RECEIVER_PORT)])
    try:
        bench.stack.start_web(port=WEB_PORT, workers=2, threads=4)
        wait_for(lambda: port_open(RECEIVER_PORT), timeout=10, what="the receiver")
        bench.setup()
        p1_intake.run(bench)
        bench.forget_unprocessed_orders()
        bench.start_workers()
        bench.stack.start_beat(loglevel="WARNING", scheduler="django_celery_beat.schedulers:DatabaseScheduler")
        p2_order_to_webhook.run(bench)
        bench.settle()
        p5_hanging_endpoint.run(bench)
        bench.settle()
        p6_fan_out.run(bench)
        bench.settle()
        p4_sustained.run(bench)
        m1_memory.run(bench)
        bench.settle()
        p3_drain.run(bench)
        bench.settle()
        p4_sustained.overload(bench)  # last: it leaves a backlog behind
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
    bench = Bench()
    try:
        run(bench)
    except HarnessError as error:
        raise SystemExit(f"bench: {error}") from error
    print_table(bench.rows)


if __name__ == "__main__":
    main()
