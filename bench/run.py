"""`make bench`: every scenario against the real stack (gunicorn, Celery worker and beat,
PostgreSQL, Redis) on this machine, each beside a baseline measured in the same run.

Prints one table: scenario, our figure, the baseline, the ratio, the target, pass or fail.
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/petstore_bench")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
WEB, RECEIVER = "http://127.0.0.1:8100", "http://127.0.0.1:8101"
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "petstore.settings",
    "BENCH": "1",
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": f"{REDIS}/10",
    "CACHE_URL": f"{REDIS}/11",
    "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",
    "API_RATE_LIMIT": "1000000/min",
    "LOG_LEVEL": "WARNING",
    # Mail is written out as SMTP would send it; the console backend's printing would be measured.
    "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    "EMAIL_FILE_PATH": str(ROOT / "artifacts" / "bench" / "mail"),
    # Orders of the API-only scenario (P1) are never processed; no sweep should pick them up later.
    "ORDER_RESUME_AFTER": "86400",
    "OUTBOX_RELAY_AFTER": "86400",
}
LOGS = ROOT / "artifacts" / "bench"
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class Stack:
    def __init__(self):
        self.processes: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, *args: str) -> None:
        log = (LOGS / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)

    def start_web(self) -> None:
        self.spawn(
            "web",
            PYTHON,
            "-m",
            "gunicorn",
            "petstore.wsgi",
            "--bind",
            "127.0.0.1:8100",
            "--workers",
            "2",
            "--threads",
            "4",
        )
        wait_for(lambda: requests.get(f"{WEB}/healthz", timeout=1).ok)

    def start_workers(self) -> None:
        """WORKERS Celery workers (threads pool each): one process per core, as in production."""
        for number in range(1, WORKERS + 1):
            self.spawn(
                f"worker-{number}",
                PYTHON,
                "-m",
                "celery",
                "-A",
                "petstore",
                "worker",
                "-n",
                f"bench{number}@%h",
                "-l",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
            )
        wait_for(lambda: self._workers_ready() == WORKERS, what="the workers")

    def _workers_ready(self) -> int:
        from celery import Celery

        app = Celery(broker=ENV["CELERY_BROKER_URL"])
        return len(app.control.ping(timeout=0.5))

    def stop_workers(self) -> None:
        for name in [name for name in self.processes if name.startswith("worker-")]:
            self.stop(name)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process:
            process.terminate()
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def rss_mb(self, name: str) -> float:
        """Resident memory of a process and its children (gunicorn's workers), the largest one."""
        pid = self.processes[name].pid
        pids = [
            pid,
            *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()),
        ]
        return max(_rss_kb(one) for one in pids) / 1024


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_for(check, timeout: float = 60, what: str = "a process to start") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: timed out waiting for {what}; see artifacts/bench/*.log")


def manage(*args: str) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"bench: manage.py {args[0]} failed:\n{result.stderr}")
    return result.stdout


def django_shell(code: str) -> str:
    return manage("shell", "-c", code)


def fresh_database() -> None:
    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput")
    for database in (10, 11):
        redis.Redis.from_url(f"{REDIS}/{database}").flushdb()


def forget_unprocessed_orders() -> None:
    """P1 measured the API alone: drop the work it queued, so later scenarios measure their own."""
    redis.Redis.from_url(ENV["CELERY_BROKER_URL"]).flushdb()
    django_shell(
        "from django.utils import timezone; from events.models import Event; "
        "Event.objects.filter(dispatched_at__isnull=True).update(dispatched_at=timezone.now())"
    )


def unfinished_work(since: float) -> tuple[int, int]:
    """Orders placed after `since` and not completed; webhook deliveries still pending."""
    with psycopg.connect(DATABASE_URL) as connection:
        orders = connection.execute(
            "SELECT count(*) FROM orders_order WHERE created_at >= to_timestamp(%s) AND completed_at IS NULL",
            [since],
        ).fetchone()[0]
        deliveries = connection.execute("SELECT count(*) FROM webhooks_delivery WHERE status = 'pending'").fetchone()[0]
    return orders, deliveries


def wrk(url: str, body: str, headers: dict, seconds: int = 10, connections: int = 16) -> float:
    """Requests per second from wrk, a load generator in another process. `body` is a Lua
    expression, evaluated for each request."""
    script = LOGS / f"{url.rsplit('/', 1)[1]}.lua"
    lines = [
        'wrk.method = "POST"',
        *(f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()),
        f"request = function() return wrk.format(nil, nil, nil, {body}) end",
    ]
    script.write_text("\n".join(lines) + "\n")
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (LOGS / f"wrk-{url.rsplit('/', 1)[1]}.txt").write_text(output)
    non_2xx = next((line for line in output.splitlines() if "Non-2xx" in line), None)
    if non_2xx:
        raise SystemExit(f"bench: wrk saw errors at {url}: {non_2xx}")
    return float(next(line for line in output.splitlines() if line.startswith("Requests/sec")).split()[1])


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def paced(rate: float, seconds: float, send) -> list[tuple[float, float, object]]:
    """Call `send()` `rate` times a second for `seconds` (open loop); (start, end, result) each."""
    results = []
    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        for index in range(int(rate * seconds)):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(lambda: results.append((time.time(), send(), time.time())))
    return [(begin, end, result) for begin, result, end in results]


class Bench:
    def __init__(self):
        self.rows: list[tuple] = []
        self.stack = Stack()
        self.session = requests.Session()

    def row(self, scenario: str, ours: float, unit: str, baseline: float | None, target: str, passed: bool) -> None:
        ratio = f"{ours / baseline:.2f}" if baseline else "—"
        base = f"{baseline:,.1f} {unit}" if baseline else "—"
        self.rows.append((scenario, f"{ours:,.1f} {unit}", base, ratio, target, "pass" if passed else "FAIL"))
        print(f"  {scenario}: {ours:,.1f} {unit}", flush=True)

    def setup(self) -> None:
        key = manage("create_api_key", "bench", "--create-user", "--staff").strip().splitlines()[-1]
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

    def subscribe(self, path: str, count: int = 1, events: tuple[str, ...] = ("*",)) -> None:
        for _ in range(count):
            response = self.session.post(
                f"{WEB}/v1/webhooks", json={"url": f"{RECEIVER}{path}", "events": events, "all_customers": True}
            )
            response.raise_for_status()

    def unsubscribe_all(self) -> None:
        django_shell("from webhooks.models import Endpoint; Endpoint.objects.update(is_active=False)")

    def receiver_stats(self) -> dict:
        return requests.get(f"{RECEIVER}/stats", timeout=10).json()

    # --- scenarios -------------------------------------------------------------------------

    def p1_order_throughput(self) -> None:
        """The API alone (workers stopped), orders spread over a catalog of 40 pets."""
        baseline = wrk(f"{WEB}/bench/insert", lua_string('{"hello": "world"}'), {"Content-Type": "application/json"})
        pets = ", ".join(lua_string(pet_id) for pet_id in self.catalog)
        body = (
            "(function() local pets = {" + pets + '}; return \'{"items": [{"pet_id": "\' .. '
            'pets[math.random(#pets)] .. \'", "quantity": 1}], "payment": {"method": "card", '
            '"token": "tok_visa"}}\' end)()'
        )
        ours = wrk(f"{WEB}/v1/orders", body, self.auth)
        self.row("P1 POST /v1/orders throughput", ours, "req/s", baseline, "≥ 0.6 × baseline", ours >= 0.6 * baseline)
        latencies = [
            (end - begin) * 1000
            for begin, end, _ in paced(ours / 2, 10, lambda: self.session.post(f"{WEB}/v1/orders", json=self.order))
        ]
        p99 = percentile(latencies, 0.99)
        self.row(f"P1 p99 latency at {ours / 2:.0f} req/s", p99, "ms", None, "≤ 25 ms", p99 <= 25)

    def order_to_webhook(
        self, seconds: float = 10, rate: float = 100, drain: float = 60, paths: list[str] | None = None
    ) -> list[float]:
        """Latency from each 201 to its order.created at the receiver: the first arrival, or with
        `paths`, the arrival at each of those endpoints. Those still missing `drain` seconds after
        the last order count with the time waited so far (a lower bound)."""
        requests.delete(f"{RECEIVER}/stats", timeout=5)
        created = {}

        def place():
            response = self.session.post(f"{WEB}/v1/orders", json=self.order)
            created[response.json()["id"]] = time.time()

        def arrivals() -> list[dict[str, float]]:
            stats = self.receiver_stats()
            return [stats["by_path"].get(path, {}) for path in paths] if paths else [stats["arrivals"]]

        paced(rate, seconds, place)
        deadline = time.monotonic() + drain
        while min(map(len, arrivals())) < len(created) and time.monotonic() < deadline:
            time.sleep(0.5)
        seen, now = arrivals(), time.time()
        return [(at.get(order_id, now) - answered) * 1000 for at in seen for order_id, answered in created.items()]

    def p2_order_to_webhook(self) -> None:
        self.subscribe("/fast", events=("order.created",))  # the event it measures, as a receiver would
        latencies = self.order_to_webhook()
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        self.row("P2 201 → order.created received, p50", p50, "ms", None, "≤ 30 ms", p50 <= 30)
        self.row("P2 201 → order.created received, p99", p99, "ms", None, "≤ 150 ms", p99 <= 150)
        self.unsubscribe_all()

    def p5_hanging_endpoint(self) -> None:
        """P2 with ten endpoints, then the same with one of them hanging: the nine healthy
        endpoints' p99 against all ten's when none hangs, the same load both times."""
        healthy = [f"/fast/{number}" for number in range(1, 10)]
        for path in [*healthy, "/fast/10"]:
            self.subscribe(path, events=("order.created",))
        base = percentile(self.order_to_webhook(paths=[*healthy, "/fast/10"]), 0.99)
        self.row("P5 baseline: P2 to 10 healthy endpoints, p99", base, "ms", None, "—", True)
        self.settle()
        self.unsubscribe_all()
        for path in [*healthy, "/hang"]:
            self.subscribe(path, events=("order.created",))
        p99 = percentile(self.order_to_webhook(paths=healthy), 0.99)
        passed = p99 <= 1.5 * base
        self.row("P5 same with 1 of 10 hanging: healthy endpoints, p99", p99, "ms", base, "≤ 1.5 × baseline", passed)
        self.unsubscribe_all()

    def p3_drain(self, count: int = 20_000) -> None:
        def loop(processes: int) -> float:
            code = (
                "import time, requests; from webhooks.signing import new_secret, sign;"
                's = requests.Session(); secret = new_secret(); body = b\'{"type": "bench"}\';'
                f"[s.post('{RECEIVER}/fast', data=body, headers={{'webhook-signature': sign(secret=secret, "
                "msg_id=str(i), timestamp=int(time.time()), body=body)}) for i in range(N)]"
            )
            per_process = count // 4 // processes  # a quarter of the run keeps the loop under a minute
            started = time.monotonic()
            runners = [
                subprocess.Popen([PYTHON, "-c", code.replace("N", str(per_process))], cwd=ROOT, env=ENV)
                for _ in range(processes)
            ]
            for runner in runners:
                runner.wait()
            return per_process * processes / (time.monotonic() - started)

        one, two = loop(1), loop(2)
        self.row("P3 baseline: signing + POST loop, 1 process", one, "posts/s", None, "—", True)
        self.subscribe("/fast")
        self.stack.stop_workers()
        django_shell(
            "from django.utils import timezone; from events.models import Event; from webhooks.models import "
            "Delivery, Endpoint; e = Event.objects.filter(type='order.created').first(); "
            "endpoints = [Endpoint(owner=e.owner, url='" + RECEIVER + "/fast', event_types=['*'], secret="
            "Endpoint.objects.first().secret) for _ in range(" + str(count // 100) + ")]; "
            "Endpoint.objects.bulk_create(endpoints); "
            "events = list(Event.objects.filter(type__startswith='order')[:100]); "
            "Delivery.objects.all().delete(); "
            "Delivery.objects.bulk_create([Delivery(endpoint=p, event=v, next_attempt_at=timezone.now()) "
            "for v in events for p in endpoints], batch_size=5000)"
        )
        with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
            # As autovacuum would have by now: fresh statistics for the 20,000 new rows, and the
            # earlier scenarios' dead rows cleared, so the drain does not share the cores with it.
            connection.execute("VACUUM ANALYZE")
        requests.delete(f"{RECEIVER}/stats", timeout=5)
        self.stack.start_workers()
        started, deadline = time.monotonic(), time.monotonic() + 60
        while self.receiver_stats()["requests"] < count and time.monotonic() < deadline:
            time.sleep(0.5)
        ours = self.receiver_stats()["requests"] / (time.monotonic() - started)  # drained in the minute
        self.row(
            f"P3 {count:,} pending deliveries drained",
            ours,
            "deliveries/s",
            two,
            "≥ 1,500/s and ≥ 0.5 × 2-process loop",
            ours >= 1500 and ours >= 0.5 * two,
        )
        self.unsubscribe_all()

    def p4_sustained(self, seconds: int = 60, rate: float = 100) -> None:
        """The whole pipeline: every order paid, its stock committed, its mail sent and completed,
        and every `order.*` event delivered to both endpoints. The backlog is what is still
        undone when placing stops; it must clear within seconds, not grow."""
        self.subscribe("/fast", 2, events=("order.*",))
        since = time.time()
        placed = paced(rate, seconds, lambda: self.session.post(f"{WEB}/v1/orders", json=self.order).status_code)
        achieved = len(placed) / seconds
        left = unfinished_work(since)
        finished = time.monotonic()
        drained = True
        try:
            wait_for(lambda: unfinished_work(since) == (0, 0), timeout=30, what="the backlog")
        except SystemExit:
            drained = False
        lag = time.monotonic() - finished
        self.row(f"P4 orders placed in {seconds} s", achieved, "orders/s", None, "≥ 100/s", achieved >= 0.98 * rate)
        self.row(
            f"P4 orders undone when placing stopped (and {left[1]:,} deliveries)",
            left[0],
            "orders",
            None,
            "no growing backlog",
            drained and lag < 5,
        )
        label = "P4 time to finish that backlog" + ("" if drained else " (gave up after 30 s)")
        self.row(label, lag, "s", None, "≈ 0", drained and lag < 5)
        self.unsubscribe_all()

    def p6_fan_out(self, endpoints: int = 1000) -> None:
        self.subscribe("/fast")
        django_shell(
            "from webhooks.models import Endpoint; e = Endpoint.objects.first(); "
            f"Endpoint.objects.bulk_create([Endpoint(owner=e.owner, url=e.url, event_types=['*'], all_customers=True,"
            f" secret=e.secret) for _ in range({endpoints - 1})])"
        )
        requests.delete(f"{RECEIVER}/stats", timeout=5)
        started = time.monotonic()
        self.session.post(f"{WEB}/v1/pets/{self.pet_id}/restock", json={"quantity": 1}).raise_for_status()
        wait_for(lambda: self.receiver_stats()["requests"] >= endpoints, timeout=60, what="the fan-out")
        took = time.monotonic() - started
        self.row(f"P6 one event to {endpoints:,} endpoints", took, "s", None, "≤ 2 s", took <= 2)
        self.unsubscribe_all()

    def m1_memory(self) -> None:
        for label, names in (("web", ["web"]), ("worker", [f"worker-{number}" for number in range(1, WORKERS + 1)])):
            rss = max(self.stack.rss_mb(name) for name in names)
            self.row(f"M1 {label} RSS at steady state", rss, "MB", None, "≤ 150 MB", rss <= 150)

    def settle(self, limit: float = 60) -> None:
        """Let the previous scenario's backlog drain (up to `limit` s), then drop what is left, so
        that each scenario measures its own work."""
        broker = redis.Redis.from_url(ENV["CELERY_BROKER_URL"])
        deadline = time.monotonic() + limit
        while sum(broker.llen(queue) for queue in ("events", "orders", "webhooks")) and time.monotonic() < deadline:
            time.sleep(1)
        forget_unprocessed_orders()
        django_shell(
            "from webhooks.models import Delivery; Delivery.objects.filter(status='pending')"
            ".update(status='failed', next_attempt_at=None)"
        )

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        print("Preparing a fresh bench database and the stack…", flush=True)
        fresh_database()
        receiver = subprocess.Popen([PYTHON, "-m", "bench.receiver", "--port", "8101"], cwd=ROOT, env=ENV)
        try:
            self.stack.start_web()
            self.setup()
            self.p1_order_throughput()
            forget_unprocessed_orders()
            self.stack.start_workers()
            self.stack.spawn(
                "beat",
                PYTHON,
                "-m",
                "celery",
                "-A",
                "petstore",
                "beat",
                "-l",
                "WARNING",
                "-S",
                "django_celery_beat.schedulers:DatabaseScheduler",
            )
            self.p2_order_to_webhook()
            self.settle()
            self.p5_hanging_endpoint()
            self.settle()
            self.p6_fan_out()
            self.settle()
            self.p4_sustained()
            self.m1_memory()
            self.settle()
            self.p3_drain()
        finally:
            self.stack.stop_all()
            receiver.terminate()
        self.print_table()

    def print_table(self) -> None:
        header = ("scenario", "ours", "baseline (same run)", "ratio", "target", "result")
        table = [header, *self.rows]
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


if __name__ == "__main__":
    Bench().run()
