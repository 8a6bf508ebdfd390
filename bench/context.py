"""What every scenario works with: the running stack, an API session with a staff key and the
pets to order, the receiver's figures, the set-up steps between scenarios, and the table of
results."""

import threading
import time

import psycopg
import redis
import requests

from bench.config import DATABASE_URL, ENV, LOGS, RECEIVER, WEB, WORKERS
from harness import Processes


class Bench:
    def __init__(self):
        self.rows: list[tuple] = []
        self.figures: dict[str, float] = {}  # what a scenario measured that a later one compares with
        self.stack = Processes(env=ENV, logs=LOGS, stop_timeout=30)
        self.session = requests.Session()
        self._clients = threading.local()

    def client(self) -> requests.Session:
        """This thread's own API session (a load's threads each keep their connection)."""
        if (session := getattr(self._clients, "session", None)) is None:
            session = self._clients.session = requests.Session()
            session.headers.update(self.auth)
        return session

    def row(
        self,
        scenario: str,
        ours: float,
        unit: str,
        baseline: float | None,
        target: str,
        passed: bool,
        *,
        baseline_is_target: bool = False,
    ) -> None:
        """A line of the table. With `baseline_is_target`, the baseline column holds the target's
        figure, so the ratio is the figure against its target."""
        ratio = f"{ours / baseline:.2f}" if baseline else "—"
        base = f"{baseline:,.1f} {unit}" + (" (target)" if baseline_is_target else "") if baseline else "—"
        self.rows.append((scenario, f"{ours:,.1f} {unit}", base, ratio, target, "pass" if passed else "FAIL"))
        print(f"  {scenario}: {ours:,.1f} {unit}", flush=True)

    # --- the stack --------------------------------------------------------------------------

    def start_workers(self) -> None:
        """WORKERS Celery workers (threads pool each): one process per core, as in production."""
        self.stack.start_workers(WORKERS, loglevel="WARNING")

    def setup(self) -> None:
        key = self.stack.manage("create_api_key", "bench", "--create-user", "--staff").strip().splitlines()[-1]
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.session.headers.update(self.auth)
        self.pet_id = self.new_pet("Bench fish")
        self.catalog = [self.new_pet(f"Fish {number}") for number in range(40)]
        self.order = {
            "items": [{"pet_id": self.pet_id, "quantity": 1}],
            "payment": {"method": "card", "token": "tok_visa"},
        }

    def new_pet(self, name: str) -> str:
        pet = {"name": name, "species": "fish", "price": "1.00", "stock": 1_000_000}
        return self.session.post(f"{WEB}/v1/pets", json=pet).json()["id"]

    # --- endpoints and the receiver ---------------------------------------------------------

    def subscribe(self, path: str, count: int = 1, events: tuple[str, ...] = ("*",)) -> None:
        for _ in range(count):
            response = self.session.post(
                f"{WEB}/v1/webhooks", json={"url": f"{RECEIVER}{path}", "events": events, "all_customers": True}
            )
            response.raise_for_status()

    def unsubscribe_all(self) -> None:
        self.stack.manage("bench_setup", "deactivate-endpoints")

    def receiver_stats(self) -> dict:
        return requests.get(f"{RECEIVER}/stats", timeout=10).json()

    def reset_receiver(self) -> None:
        requests.delete(f"{RECEIVER}/stats", timeout=5)

    def drain(self, *setup: str, path: str, count: int, also: tuple[str, ...] = (), limit: float = 90) -> float:
        """Deliveries per second to `path`: the workers stopped, `bench_setup` `setup` (and `also`
        beside it) makes deliveries due, then the workers start and drain them (up to `limit` s)."""
        self.stack.stop_workers()
        self.stack.manage("bench_setup", *setup)
        if also:
            self.stack.manage("bench_setup", *setup[:1], *also)
        self.reset_receiver()
        self.start_workers()
        deadline = time.monotonic() + limit
        while self.receiver_stats()["paths"].get(path, 0) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.arrival_rate(path, count)

    def arrival_rate(self, path: str, count: int) -> float:
        """Requests per second at `path`, from its first arrival to its last, or to now if fewer than
        `count` came (the workers may have started sending before the bench looked)."""
        stats = self.receiver_stats()
        received = stats["paths"].get(path, 0)
        if received < 2:
            return 0.0
        first, last = stats["spans"][path]
        if received < count:
            return received / (time.time() - first)
        return (received - 1) / (last - first)

    # --- between scenarios ------------------------------------------------------------------

    def forget_unprocessed_orders(self) -> None:
        """P1 measured the API alone: drop the work it queued, so later scenarios measure their own."""
        redis.Redis.from_url(ENV["CELERY_BROKER_URL"]).flushdb()
        self.stack.manage("bench_setup", "forget-undispatched-events")

    def settle(self, limit: float = 60) -> None:
        """Let the previous scenario's backlog drain (up to `limit` s): the broker's queues, and
        the deliveries due or being sent, which a worker's sender may hold in memory and its
        recorder still be writing (those waiting for a later retry cost nothing meanwhile); then
        drop what is left, so that each scenario measures its own work."""
        broker = redis.Redis.from_url(ENV["CELERY_BROKER_URL"])
        deadline = time.monotonic() + limit
        while sum(broker.llen(queue) for queue in ("events", "orders", "webhooks")) and time.monotonic() < deadline:
            time.sleep(1)
        with psycopg.connect(DATABASE_URL, autocommit=True) as database:
            pending = """SELECT EXISTS (SELECT 1 FROM webhooks_delivery WHERE status = 'pending'
                         AND (next_attempt_at <= now() OR sending_until > now()))"""
            while database.execute(pending).fetchone()[0] and time.monotonic() < deadline:
                time.sleep(1)
        self.forget_unprocessed_orders()
        self.stack.manage("bench_setup", "fail-pending-deliveries")
