"""B1: statements and broker messages per order, end to end. Counted by the suite's budget test
(`tests/api/test_budgets.py`: one order through a real Celery worker, two endpoints on `order.*`),
which this runs on the bench's PostgreSQL server and reads the figures of."""

import json
import subprocess
from urllib.parse import urlsplit

from bench.config import CACHE_URL, DATABASE_URL, ENV, REDIS
from bench.context import Bench
from harness import PYTHON, ROOT

REQUEST, WORKERS, MESSAGES = 8, 25, 4  # the budgets per order


def run(bench: Bench) -> None:
    figures = measure()
    if figures is None:
        bench.row("B1 budget test", 0, "", None, "runs", False)
        return
    workers = figures["order_work"] + figures["recorder"]
    request = figures["request"]
    bench.row("B1 SQL statements in the request", request, "statements", REQUEST, f"≤ {REQUEST}", request <= REQUEST)
    bench.row(
        f"B1 SQL statements in the workers ({figures['batches']} recorder batches)",
        workers,
        "statements",
        WORKERS,
        f"≤ {WORKERS}",
        workers <= WORKERS,
    )
    messages = figures["messages"]
    bench.row("B1 broker messages", messages, "messages", MESSAGES, f"≤ {MESSAGES}", messages <= MESSAGES)


def measure() -> dict | None:
    env = {
        **ENV,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": DATABASE_URL,  # pytest-django makes its own test database beside it
        "BUDGET_BROKER_URL": f"{REDIS}/12",
        "CELERY_BROKER_URL": f"{REDIS}/13",
        "CACHE_URL": CACHE_URL,
        "LOG_LEVEL": "WARNING",
    }
    command = [PYTHON, "-m", "pytest", "tests/api/test_budgets.py", "-q", "-s", "-p", "no:cacheprovider", "--create-db"]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    line = next((line for line in finished.stdout.splitlines() if line.startswith("B1 {")), None)
    if finished.returncode != 0 or line is None:
        print(f"B1: the budget test failed on {urlsplit(DATABASE_URL).hostname}:\n{finished.stdout[-3000:]}")
        return None
    return json.loads(line[3 : line.index("}") + 1])
