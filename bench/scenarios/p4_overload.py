"""P4X: twice P4's rate, more than the stack can take: orders and deliveries must both keep
completing, window after window (no queue starves the other while the backlog grows), counted by
the rows' own `completed_at` and `updated_at`. The load falls behind by design; the table says
by how much."""

import time

import psycopg

from bench.config import DATABASE_URL, WEB
from bench.context import Bench
from bench.load import paced

WINDOW = 5  # seconds


def completions_by_window(since: float, windows: int) -> tuple[list[int], list[int]]:
    """Orders completed and webhook deliveries succeeded in each WINDOW after `since`."""
    by_window = (
        "SELECT floor((extract(epoch FROM {column}) - %(since)s) / %(window)s)::int AS w, count(*) FROM {table}"
        " WHERE {column} >= to_timestamp(%(since)s) AND {condition} GROUP BY w"
    )
    with psycopg.connect(DATABASE_URL) as connection:
        counts = [
            dict(connection.execute(by_window.format(**query), {"since": since, "window": WINDOW}).fetchall())
            for query in (
                {"table": "orders_order", "column": "completed_at", "condition": "TRUE"},
                {"table": "webhooks_delivery", "column": "updated_at", "condition": "status = 'succeeded'"},
            )
        ]
    return tuple([by.get(window, 0) for window in range(windows)] for by in counts)


def run(bench: Bench, seconds: int = 30, rate: float = 200) -> None:
    bench.subscribe("/fast", 2, events=("order.*",))
    since = time.time()
    load = paced(rate, seconds, lambda: bench.client().post(f"{WEB}/v1/orders", json=bench.order).status_code)
    orders, deliveries = completions_by_window(since, seconds // WINDOW)
    steady = all(count > 0 for count in orders[1:] + deliveries[1:])  # the first window is the ramp
    slowest = min(orders[1:]) / WINDOW
    bench.row(
        f"P4X at {rate:.0f} orders/s ({load.verdict() or 'held'}): slowest {WINDOW} s of completions"
        f" (orders {orders}, deliveries {deliveries})",
        slowest,
        "orders/s",
        None,
        "every window completes orders and deliveries",
        steady,
    )
    completed = sum(orders[1:]) / (WINDOW * (len(orders) - 1))
    if sustainable := bench.figures.get("sustainable"):
        bench.row(
            "P4X orders completed per second under that overload, against B-burst's rate",
            completed,
            "orders/s",
            sustainable,
            "≥ 0.8 × sustainable",
            completed >= 0.8 * sustainable,
        )
    bench.unsubscribe_all()
