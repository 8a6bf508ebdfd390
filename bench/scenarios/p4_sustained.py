"""P4: the whole pipeline at 100 orders/s for a minute: every order paid, its stock committed,
its mail sent and completed, and every `order.*` event delivered to both endpoints.

Every figure is read from the rows' own timestamps, after the fact: the rate placed is the orders
created over the wall time from the first due request to the last order's `created_at`; the
backlog is what was due by the schedule's end and not completed by then; the time to finish it
runs from the schedule's end to the last completion and the last delivery."""

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


def timeline(since: float, until: float) -> dict:
    """From the rows: orders created since `since` (count, first and last created_at), those
    completed by `until`, and the last completion and the last successful delivery (epoch s)."""
    query = """
        SELECT count(*), extract(epoch FROM min(created_at)), extract(epoch FROM max(created_at)),
               count(*) FILTER (WHERE completed_at <= to_timestamp(%(until)s)),
               extract(epoch FROM max(completed_at)),
               (SELECT extract(epoch FROM max(updated_at)) FROM webhooks_delivery
                 WHERE status = 'succeeded' AND created_at >= to_timestamp(%(since)s))
        FROM orders_order WHERE created_at >= to_timestamp(%(since)s)"""
    with psycopg.connect(DATABASE_URL) as connection:
        row = connection.execute(query, {"since": since, "until": until}).fetchone()
    names = ("created", "first", "last", "completed_by_end", "last_completed", "last_delivered")
    return dict(zip(names, [float(value) if value is not None else None for value in row], strict=True))


def run(bench: Bench, seconds: int = 60, rate: float = 100) -> None:
    bench.subscribe("/fast", 2, events=("order.*",))
    since = time.time()
    load = paced(rate, seconds, lambda: bench.client().post(f"{WEB}/v1/orders", json=bench.order).status_code)
    end = since + seconds  # when the schedule stopped placing
    drained = True
    try:
        wait_for(lambda: unfinished_work(since) == (0, 0), timeout=30, what="the backlog")
    except NotReady:
        drained = False
    rows = timeline(since, end)
    placed = rows["created"] / (rows["last"] - since) if rows["created"] else 0.0
    due = int(rate * seconds)
    backlog = due - int(rows["completed_by_end"])
    lag = max(rows["last_completed"] or end, rows["last_delivered"] or end) - end
    behind = load.behind or placed < 0.95 * rate
    verdict = f" behind: offered {rate:.0f}/s, placed {placed:.0f}/s" if behind else ""
    bench.row(
        f"P4 orders placed over {seconds} s (by created_at; the client saw {load.achieved:.0f}/s){verdict}",
        placed,
        "orders/s",
        None,
        "≥ 100/s",
        not behind,
    )
    bench.row(
        f"P4 orders due by then and not completed (of {due:,})",
        backlog,
        "orders",
        None,
        "no growing backlog",
        drained and lag < 5 and not behind,
    )
    label = "P4 time to finish that backlog (last completion or delivery)"
    label += "" if drained else " (gave up after 30 s)"
    bench.row(label, lag, "s", None, "≈ 0", drained and lag < 5)
    bench.unsubscribe_all()
