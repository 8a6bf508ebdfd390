"""P4: the whole pipeline at 100 orders/s for a minute: every order paid, its stock committed,
its mail sent and completed, and every `order.*` event delivered to both endpoints. The backlog
is what is still undone when placing stops; it must clear within seconds, not grow."""

import time

import psycopg

from bench.config import DATABASE_URL, WEB
from bench.context import Bench
from bench.load import paced
from harness import NotReady, wait_for


def unfinished_work(since: float) -> tuple[int, int]:
    """Orders placed after `since` and not completed; webhook deliveries still pending."""
    with psycopg.connect(DATABASE_URL) as connection:
        orders = connection.execute(
            "SELECT count(*) FROM orders_order WHERE created_at >= to_timestamp(%s) AND completed_at IS NULL",
            [since],
        ).fetchone()[0]
        deliveries = connection.execute("SELECT count(*) FROM webhooks_delivery WHERE status = 'pending'").fetchone()[0]
    return orders, deliveries


def run(bench: Bench, seconds: int = 60, rate: float = 100) -> None:
    bench.subscribe("/fast", 2, events=("order.*",))
    since = time.time()
    placed = paced(rate, seconds, lambda: bench.session.post(f"{WEB}/v1/orders", json=bench.order).status_code)
    achieved = len(placed) / seconds
    left = unfinished_work(since)
    finished = time.monotonic()
    drained = True
    try:
        wait_for(lambda: unfinished_work(since) == (0, 0), timeout=30, what="the backlog")
    except NotReady:
        drained = False
    lag = time.monotonic() - finished
    bench.row(f"P4 orders placed in {seconds} s", achieved, "orders/s", None, "≥ 100/s", achieved >= 0.98 * rate)
    bench.row(
        f"P4 orders undone when placing stopped (and {left[1]:,} deliveries)",
        left[0],
        "orders",
        None,
        "no growing backlog",
        drained and lag < 5,
    )
    label = "P4 time to finish that backlog" + ("" if drained else " (gave up after 30 s)")
    bench.row(label, lag, "s", None, "≈ 0", drained and lag < 5)
    bench.unsubscribe_all()
