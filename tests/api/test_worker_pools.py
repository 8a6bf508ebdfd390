"""The worker runs only on pools where it is safe: under prefork Celery closes a process's
PostgreSQL connection pool after every task, under the webhook sender's recording thread, so a
worker asked for prefork with a connection pool stops at start and says why."""

import subprocess

import pytest
from celery.concurrency.base import BasePool
from django.db import connection

from core import workers
from harness import PYTHON, ROOT

WITH_POOL = {"default": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"pool": {"max_size": 20}}}}
WITHOUT_POOL = {"default": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}}


class GreenPool(BasePool):  # stands for eventlet and gevent, which are not installed
    pass


@pytest.mark.parametrize(
    ("pool", "databases", "refused"),
    [
        ("threads", WITH_POOL, False),
        ("solo", WITH_POOL, False),
        ("prefork", WITHOUT_POOL, False),
        ("prefork", WITH_POOL, True),
        (GreenPool, WITHOUT_POOL, True),
    ],
)
def test_only_pools_that_are_safe_for_the_sender_are_accepted(pool, databases, refused):
    assert bool(workers.refusal(pool_cls=pool, databases=databases)) is refused


def test_a_worker_asked_for_prefork_with_a_connection_pool_stops_at_start_and_says_why(worker_env):
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    env = {**worker_env, "CELERY_WORKER_POOL": "prefork", "DATABASE_POOL_SIZE": "20"}
    worker = subprocess.run(
        [PYTHON, "-m", "celery", "-A", "petstore", "worker", "-c", "1", "--without-mingle", "--without-gossip"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0
    assert "petstore worker: the prefork pool with a PostgreSQL connection pool is refused" in worker.stderr
    assert "DATABASE_POOL_SIZE=0" in worker.stderr
    assert "Traceback" not in worker.stderr
