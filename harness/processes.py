"""Start, watch and stop the product's processes, each logging to a file of its own.

`Processes` runs every process it starts with one environment and logs to `<logs>/<name>.log`.
Celery workers sit in numbered slots: `supervise()` restarts the worker of a slot that exited on
its own, as systemd's `Restart=always` would, and counts it; `replace_worker()` swaps one on
purpose (a fault to inject), starting its successor first, and is not counted. A worker is ready
when it answers a ping under its node name, whatever its log level.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import psycopg
import requests
from celery import Celery
from celery.utils.nodenames import host_format

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = [PYTHON, "-m", "celery", "-A", "petstore"]


class HarnessError(Exception):
    """A process did not come up, or a command it ran failed."""


class NotReady(HarnessError, TimeoutError):
    """What `wait_for` waited for never happened."""


class CommandFailed(HarnessError):
    """A `manage.py` command exited with an error."""


def wait_for(check: Callable[[], object], *, timeout: float = 60, what: str = "a process to start") -> None:
    """Poll `check` until it returns something truthy; an exception counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if time.monotonic() > deadline:
            raise NotReady(f"timed out waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def fresh_database(database_url: str) -> None:
    """Drop the PostgreSQL database of `database_url`, closing its sessions, and create it empty."""
    server, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


class Processes:
    """The processes of one stack. `stop_timeout` is how long a process may take to exit after
    SIGTERM before it and its children are killed."""

    def __init__(self, *, env: dict[str, str], logs: Path, stop_timeout: float = 15):
        self.env = env
        self.logs = logs
        self.stop_timeout = stop_timeout
        self.running: dict[str, subprocess.Popen] = {}
        self.workers: list[str] = []  # a worker's name per slot
        self.restarts = 0  # workers that exited on their own and were started again
        self._log_files: dict[str, IO[bytes]] = {}
        self._worker_options: dict[str, tuple[str, int | None]] = {}
        self._started_workers = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._control: Celery | None = None

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        """Start `args` as `name`, in a session of its own so that a Ctrl-C reaches only us and
        the processes stop in our order."""
        log = self.log(name).open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        with self._lock:
            self.running[name] = process
            self._log_files[name] = log
        return process

    def manage(self, *args: str) -> str:
        """Run a `manage.py` command to its end; its standard output."""
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if result.returncode:
            raise CommandFailed(f"manage.py {args[0]} failed:\n{result.stderr}")
        return result.stdout

    # --- the product's processes ---------------------------------------------------------

    def start_redis(self, port: int) -> str:
        """A private Redis without persistence: killed, it comes back empty. Its URL."""
        self.spawn(
            "redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        wait_for(lambda: port_open(port), timeout=10, what="redis to start")
        return f"redis://127.0.0.1:{port}"

    def start_web(self, *, port: int, workers: int = 2, threads: int = 4, wait: bool = True) -> str:
        """gunicorn on loopback as the run command serves it (its settings, `petstore/gunicorn.py`:
        uvicorn workers, `threads` threads each for the synchronous API); its URL. With `wait`,
        once it answers /healthz."""
        server = ("petstore.asgi", "--config", "python:petstore.gunicorn")
        self.env = {**self.env, "WEB_THREADS": str(threads)}
        self.spawn(
            "web",
            [
                *(PYTHON, "-m", "gunicorn", *server),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
            ],
        )
        url = f"http://127.0.0.1:{port}"
        if wait:
            self.wait_for_web(url)
        return url

    def wait_for_web(self, url: str, timeout: float = 60) -> None:
        wait_for(
            lambda: requests.get(f"{url}/healthz", timeout=1).ok,
            timeout=timeout,
            what=f"gunicorn to answer (see {self.log('web')})",
        )

    def start_workers(self, count: int = 1, *, loglevel: str = "INFO", concurrency: int | None = None) -> list[str]:
        """`count` Celery workers (every queue) in new slots, started together; their names, once
        each answers."""
        names = [self._spawn_worker(loglevel, concurrency) for _ in range(count)]
        with self._lock:
            self.workers.extend(names)
        for name in names:
            self.wait_for_worker(name)
        return names

    def start_beat(self, *, loglevel: str = "INFO", scheduler: str = "celery.beat:PersistentScheduler") -> None:
        schedule = str(self.logs / "beat-schedule")  # the persistent scheduler's file, kept with the logs
        self.spawn("beat", [*CELERY, "beat", "-l", loglevel, "-S", scheduler, "-s", schedule])

    def wait_for_worker(self, name: str, timeout: float = 60) -> None:
        node = host_format(f"{name}@%h")
        wait_for(
            lambda: self._stopping.is_set() or self._control_app().control.ping(destination=[node], timeout=0.5),
            timeout=timeout,
            what=f"{name} to start (see {self.log(name)})",
        )

    def _spawn_worker(self, loglevel: str, concurrency: int | None) -> str:
        with self._lock:
            self._started_workers += 1
            name = f"worker-{self._started_workers}"
            self._worker_options[name] = (loglevel, concurrency)
        args = [*CELERY, "worker", "-n", f"{name}@%h", "-l", loglevel, "--without-mingle", "--without-gossip"]
        if concurrency:
            args += ["-c", str(concurrency)]
        self.spawn(name, args)
        return name

    def _control_app(self) -> Celery:
        if self._control is None:
            # Not the current app: in a test process that must stay the product's own. The broker
            # goes in the read and write URLs: Celery takes the broker URL from this process's
            # CELERY_BROKER_URL first, and a test process has one, for its own broker.
            self._control = Celery(set_as_current=False)
            url = self.env["CELERY_BROKER_URL"]
            self._control.conf.update(broker_read_url=url, broker_write_url=url)
        return self._control

    # --- supervision and faults -----------------------------------------------------------

    def supervise(self) -> None:
        """From now on, restart a worker that exits on its own (kombu can end one with an
        "Unrecoverable error" when Redis goes away, instead of reconnecting)."""
        threading.Thread(target=self._supervise, name="harness-supervisor", daemon=True).start()

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            for slot, name in enumerate(list(self.workers)):
                with self._lock:
                    if not self._exited_on_its_own(slot, name):
                        continue
                    self.restarts += 1
                successor = self._spawn_worker(*self._worker_options[name])
                with self._lock:
                    self.workers[slot] = successor
                self._forget(name)
                # One restart at a time, as systemd's RestartSec; a worker still starting (the
                # broker may be down) is looked at again in the next round.
                with contextlib.suppress(NotReady):
                    self.wait_for_worker(successor)

    def _exited_on_its_own(self, slot: int, name: str) -> bool:
        """Whether the worker `name` still holds `slot` but has exited, and nobody is stopping."""
        return (
            not self._stopping.is_set()
            and slot < len(self.workers)
            and self.workers[slot] == name
            and self.running[name].poll() is not None
        )

    def replace_worker(self, slot: int, signum: int, timeout: float = 60) -> None:
        """Start a worker for `slot`, then send its former worker `signum` and wait for it to exit."""
        successor = self._spawn_worker(*self._worker_options[self.workers[slot]])
        self.wait_for_worker(successor)
        with self._lock:
            name, self.workers[slot] = self.workers[slot], successor
        self.running[name].send_signal(signum)
        self.running[name].wait(timeout=timeout)
        self._forget(name)

    def kill(self, name: str) -> None:
        """SIGKILL, like a crash."""
        self.running[name].kill()
        self.running[name].wait()
        self._forget(name)

    # --- stopping -------------------------------------------------------------------------

    def stop_workers(self) -> None:
        with self._lock:
            names, self.workers = self.workers, []
        self._stop(names)

    def stop_all(self) -> None:
        """Everything, the last started first, and Redis after the processes that use it."""
        self._stopping.set()
        with self._lock:
            names = list(reversed(self.running))
            self.workers = []
        self._stop([name for name in names if name != "redis"])
        self._stop([name for name in names if name == "redis"])
        if self._control is not None:
            self._control.close()

    def _stop(self, names: list[str]) -> None:
        """SIGTERM to all at once; after `stop_timeout`, SIGKILL to what is left, children too."""
        processes = [(name, self.running[name]) for name in names]
        for _, process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for name, process in processes:
            try:
                process.wait(timeout=max(0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            self._forget(name)

    def _forget(self, name: str) -> None:
        with self._lock:
            self.running.pop(name, None)
            self._worker_options.pop(name, None)
            log = self._log_files.pop(name, None)
        if log is not None:
            log.close()

    # --- measurements ---------------------------------------------------------------------

    def rss_mb(self, name: str) -> float:
        """Resident memory of a process or of its largest child (gunicorn's workers)."""
        pid = self.running[name].pid
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return max(_rss_kb(one) for one in [pid, *map(int, children)]) / 1024


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
