"""What the stack spent while a scenario ran: CPU time of its processes, read from /proc (and
Redis' own counters), and the lock waits PostgreSQL showed, sampled from `pg_stat_activity`."""

import os
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


def with_children(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(grandchild for child in children for grandchild in with_children(int(child)))]


BENCH_CONNECTION = "petstore-bench"  # the bench's own connections: not the store's CPU


def database_backends(database_url: str) -> list[int]:
    """The backends of the database serving the store (not the bench's own connections)."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, autocommit=True, application_name=BENCH_CONNECTION) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s",
            [name, BENCH_CONNECTION],
        ).fetchall()
    return [pid for (pid,) in rows]


def redis_cpu_seconds(url: str) -> float:
    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class CpuMeter:
    """CPU seconds spent by groups of processes between `start()` and `stop()`: the web server
    and its workers, the Celery workers (each group a process and its children), `alone` processes
    without their children (this one, whose children are the stack), this database's PostgreSQL
    backends (those alive at the end; a backend that started meanwhile counts from zero) and the
    Redis server."""

    def __init__(
        self,
        *,
        groups: dict[str, list[int]],
        database_url: str,
        redis_url: str,
        alone: dict[str, int] | None = None,
    ):
        self.groups, self.database_url, self.redis_url = groups, database_url, redis_url
        self.alone = alone or {}

    def _read(self) -> dict[str, dict[int, float]]:
        pids = {name: [p for pid in roots for p in with_children(pid)] for name, roots in self.groups.items()}
        pids |= {name: [pid] for name, pid in self.alone.items()}
        pids["postgres"] = database_backends(self.database_url)
        return {name: {pid: cpu_seconds(pid) for pid in group} for name, group in pids.items()}

    def start(self) -> None:
        self.before, self.redis_before = self._read(), redis_cpu_seconds(self.redis_url)

    def stop(self) -> dict[str, float]:
        after = self._read()
        spent = {
            name: sum(seconds - self.before[name].get(pid, 0.0) for pid, seconds in group.items())
            for name, group in after.items()
        }
        spent["redis"] = redis_cpu_seconds(self.redis_url) - self.redis_before
        return spent


@dataclass
class LockWaits:
    samples: int = 0
    waiting_samples: int = 0  # samples in which some backend waited for a lock
    most_waiting: int = 0  # the most backends seen waiting at once
    longest_ms: float = 0.0  # the longest wait seen (from its statement's start: a lower bound)
    statements: Counter = field(default_factory=Counter)  # what the waiters were running

    def summary(self, top: int = 2) -> str:
        """In a line: how often backends waited, how many at once, and what they ran."""
        if not self.waiting_samples:
            return f"none in {self.samples} samples"
        most = "; ".join(f"{count}× {statement}" for statement, count in self.statements.most_common(top))
        return f"{self.waiting_samples} of {self.samples} samples, up to {self.most_waiting} waiting at once: {most}"


class LockSampler:
    """Every `interval` s, the backends of the database waiting for a lock (`pg_stat_activity`)."""

    QUERY = """
        SELECT count(*), coalesce(max(extract(epoch FROM clock_timestamp() - query_start)) * 1000, 0),
               array_agg(left(regexp_replace(regexp_replace(query, '''[^'']*''|\\m\\d+\\M', '?', 'g'),
                                             '\\s+', ' ', 'g'), 60))
        FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"""

    def __init__(self, database_url: str, interval: float = 0.05):
        self.database_url, self.interval = database_url, interval
        self.waits = LockWaits()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="lock-sampler", daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self.waits

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        name = self.database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.database_url, autocommit=True, application_name=BENCH_CONNECTION) as connection:
            while not self._stop.wait(self.interval):
                waiting, longest, statements = connection.execute(self.QUERY, [name]).fetchone()
                self.waits.samples += 1
                if waiting:
                    self.waits.waiting_samples += 1
                    self.waits.most_waiting = max(self.waits.most_waiting, waiting)
                    self.waits.longest_ms = max(self.waits.longest_ms, float(longest))
                    self.waits.statements.update(statements)  # literals left out, so that waits add up
