"""B-burst and B-flash: a burst of orders as traffic arrives, not paced. CLIENTS clients in a
closed loop place COUNT orders as fast as the API takes them, spread over the 40 pets of the
catalog (B-burst) or all for one pet with a large stock (B-flash, a flash sale), with two endpoints
on `order.*` answering 204. The figure is the whole pipeline: orders over the wall time from the
first request to the last delivery (every order paid, stocked, mailed, completed and every
`order.*` event delivered to both endpoints), cross-checked with the rows' own timestamps.

In the same run: CPU per order of the web server and of the workers (and of PostgreSQL's backends
for this database, Redis, and the bench's own receiver and load generator, which share the two
cores), from /proc, and the lock waits PostgreSQL showed. B-burst then places as many orders from
one client, one at a time, and compares the store's CPU per order in the burst with theirs (the
same count, so what the store spends whatever the load, beat's ticks, is spread alike): a cost per
order that grows under a burst (lock queues, retries, contention) shows as a ratio above 1."""

import os
import time
from dataclasses import dataclass

import psycopg

from bench.config import DATABASE_URL, REDIS, WEB
from bench.context import Bench
from bench.load import Burst, burst
from bench.observe import CpuMeter, LockSampler, LockWaits

COUNT, CLIENTS = 600, 16
ALONE = COUNT  # as many orders placed one at a time, for the cost per order without a burst
ENDPOINTS = ("/burst/1", "/burst/2")
EVENTS_PER_ORDER = 3  # order.created, order.status_changed, order.completed
TARGET = 100  # orders/s, the issue's
CPU_TARGETS = {"web": 6, "workers": 12}  # ms per order, the (B-burst)


def rows_timeline(since: float) -> dict:
    """From the rows: orders created since `since`, completed, the first created_at, the last
    completion and the last successful delivery (epoch s)."""
    query = """
        SELECT count(*), count(completed_at), extract(epoch FROM min(created_at)),
               extract(epoch FROM max(completed_at)),
               (SELECT extract(epoch FROM max(updated_at)) FROM webhooks_delivery
                 WHERE status = 'succeeded' AND created_at >= to_timestamp(%(since)s)),
               (SELECT count(*) FROM webhooks_delivery WHERE status = 'succeeded'
                 AND created_at >= to_timestamp(%(since)s))
        FROM orders_order WHERE created_at >= to_timestamp(%(since)s)"""
    with psycopg.connect(DATABASE_URL) as connection:
        row = connection.execute(query, {"since": since}).fetchone()
    names = ("created", "completed", "first", "last_completed", "last_delivered", "delivered")
    return dict(zip(names, [float(value) if value is not None else None for value in row], strict=True))


@dataclass
class Run:
    count: int
    placed: Burst
    took: float  # s, from the first request to the last delivery
    by_rows: float  # the same by the rows' own clock
    completed: int
    failed: int
    done: bool
    per_order: dict[str, float]  # CPU ms per order, by group
    waits: LockWaits

    @property
    def achieved(self) -> float:
        return self.completed / self.took  # orders done over the wall time, first request to last delivery

    @property
    def store_ms(self) -> float:
        return sum(self.per_order[group] for group in ("web", "workers", "postgres", "redis"))


def place_and_deliver(bench: Bench, pets: list[str], *, count: int, clients: int, limit: float) -> Run:
    """`count` orders from `clients` closed-loop clients, timed to the last of their deliveries."""

    def place(number: int) -> int:
        body = {**bench.order, "items": [{"pet_id": pets[number % len(pets)], "quantity": 1}]}
        return bench.client().post(f"{WEB}/v1/orders", json=body).status_code

    bench.reset_receiver()
    meter = CpuMeter(
        groups={
            "web": [bench.stack.running["web"].pid],
            "workers": [bench.stack.running[worker].pid for worker in bench.stack.workers],
            "receiver": [bench.stack.running["receiver"].pid],
        },
        alone={"load": os.getpid()},  # this process: the clients, the lock sampler, the polling
        database_url=DATABASE_URL,
        redis_url=REDIS,
    )
    deliveries = count * EVENTS_PER_ORDER * len(ENDPOINTS)
    meter.start()
    with LockSampler(DATABASE_URL) as waits:
        placed = burst(count, clients, place, limit=limit)
        deadline = placed.started + limit
        while bench.receiver_stats()["requests"] < deliveries and time.time() < deadline:
            time.sleep(0.1)
    spent = meter.stop()
    stats, rows = bench.receiver_stats(), rows_timeline(placed.started)
    done = stats["requests"] >= deliveries and rows["completed"] >= count
    last = max(span[1] for span in stats["spans"].values()) if stats["spans"] else time.time()
    return Run(
        count=count,
        placed=placed,
        took=(last if done else time.time()) - placed.started,
        by_rows=(rows["last_delivered"] or last) - (rows["first"] or placed.started),  # the rows' own clock
        completed=int(rows["completed"]),
        failed=sum(call.result != 201 for call in placed.calls),
        done=done,
        per_order={group: seconds * 1000 / count for group, seconds in spent.items()},
        waits=waits,
    )


def run(bench: Bench, *, flash: bool, limit: float = 120) -> None:
    name = "B-flash" if flash else "B-burst"
    for path in ENDPOINTS:
        bench.subscribe(path, events=("order.*",))
    pets = [bench.pet_id] if flash else bench.catalog
    measured = place_and_deliver(bench, pets, count=COUNT, clients=CLIENTS, limit=limit)
    if not flash:
        bench.figures["sustainable"] = measured.achieved  # P4X compares its overload with it
    shape = "1 pet" if flash else f"{len(bench.catalog)} pets"
    ok = measured.done and not measured.failed
    outcome = "" if ok else f" UNFINISHED ({measured.completed} completed, {measured.failed} refused)"
    bench.row(
        f"{name} {COUNT} orders, {CLIENTS} clients, {shape}: placed in {measured.placed.elapsed:.1f} s, every"
        f" delivery in {measured.took:.1f} s (rows: {measured.by_rows:.1f} s){outcome}",
        measured.achieved,
        "orders/s",
        TARGET,
        f"≥ {TARGET}/s",
        ok and measured.achieved >= TARGET,
        baseline_is_target=True,
    )
    per_order = measured.per_order
    for group, target in CPU_TARGETS.items():
        bench.row(
            f"{name} CPU per order: {group}",
            per_order[group],
            "ms",
            target,
            f"≤ {target} ms",
            per_order[group] <= target,
            baseline_is_target=True,
        )
    bench.row(
        f"{name} CPU per order: PostgreSQL backends {per_order['postgres']:.1f} ms, Redis {per_order['redis']:.1f} ms"
        f" (the store all told {measured.store_ms:.1f} ms; beside it the bench's receiver"
        f" {per_order['receiver']:.1f} ms and load generator {per_order['load']:.1f} ms)",
        per_order["postgres"] + per_order["redis"],
        "ms",
        None,
        "—",
        True,
    )
    waits = measured.waits
    print(f"  {name} lock waits: {waits.summary(top=5)}", flush=True)
    bench.row(
        f"{name} longest lock wait seen (sampled every 50 ms; {waits.summary(top=1)})",
        waits.longest_ms,
        "ms",
        None,
        "a few ms at most",
        waits.longest_ms <= 5,
    )
    if not flash:
        alone = place_and_deliver(bench, pets, count=ALONE, clients=1, limit=limit)
        bench.row(
            f"{name} the store's CPU per order in the burst, beside {ALONE} orders placed one at a time"
            f" ({alone.achieved:.1f} orders/s{'' if alone.done else ', UNFINISHED'})",
            measured.store_ms,
            "ms",
            alone.store_ms,
            "no growth (≤ 1.1 ×)",
            alone.done and measured.store_ms <= 1.1 * alone.store_ms,
        )
    bench.unsubscribe_all()
