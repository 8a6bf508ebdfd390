"""The whole product as separate processes, for fault injection: its own Redis on its own port,
gunicorn, Celery workers and beat, all against the test database; and webhook receivers that
verify signatures and can be told to fail."""

import json
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from standardwebhooks import Webhook

from tests.conftest import ROOT, eventually, stop_process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, *, base_env: dict, logs: Path, broker_url: str | None = None):
        self.logs = logs
        self.redis_port = free_port()
        self.web_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}"
        self.env = {
            **base_env,
            "CELERY_BROKER_URL": broker_url or f"{self.redis_url}/0",
            "CACHE_URL": f"{self.redis_url}/1",
            "CELERY_VISIBILITY_TIMEOUT": "10",  # a killed worker's tasks come back within seconds
            "OUTBOX_RELAY_AFTER": "5",
            "ORDER_RESUME_AFTER": "10",
        }
        self.redis: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None
        self.started_workers = 0
        self.unexpected_exits = 0
        self._supervising = threading.Event()

    # --- processes -----------------------------------------------------------------------

    def start(self, *, workers: int = 1) -> "Stack":
        self.start_redis()
        self.web = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "petstore.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--threads",
                "8",
            ],
        )
        self.workers = [self.start_worker() for _ in range(workers)]
        self.beat = self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "petstore",
                "beat",
                "-l",
                "INFO",
                "-S",
                "celery.beat:PersistentScheduler",
                "-s",
                str(self.logs / "beat-schedule"),
            ],
        )
        eventually(self._web_answers, timeout=30, message="gunicorn to answer")
        threading.Thread(target=self._supervise, daemon=True).start()
        return self

    def _supervise(self) -> None:
        """Restart a worker that exits on its own, as systemd or Kubernetes would: when Redis goes
        away, kombu can end a worker with an "Unrecoverable error" instead of reconnecting."""
        while not self._supervising.wait(0.5):
            for index, worker in enumerate(self.workers):
                if worker.poll() is not None and not self._supervising.is_set():
                    self.unexpected_exits += 1
                    self.workers[index] = self.start_worker()

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=(self.logs / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        eventually(lambda: self.port_open(self.redis_port), timeout=10, message="redis to start")

    def stop_redis(self) -> None:
        self.redis.kill()  # like a crash: no persistence, every queued task is gone
        self.redis.wait()

    def start_worker(self) -> subprocess.Popen:
        self.started_workers += 1
        name = f"worker{self.started_workers}"
        worker = self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "petstore",
                "worker",
                "-l",
                "INFO",
                "-n",
                f"{name}@%h",
                "-c",
                "16",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        log = self.logs / f"{name}.log"
        eventually(lambda: "ready." in log.read_text(), timeout=60, message=f"{name} to start")
        return worker

    def signal_worker(self, index: int, signum: int) -> None:
        """Send a worker a signal, wait for it to exit and start another in its place."""
        worker = self.workers[index]
        self.workers[index] = self.start_worker()
        worker.send_signal(signum)
        worker.wait(timeout=60)

    def stop(self) -> None:
        self._supervising.set()
        for process in [self.beat, self.web, *self.workers]:
            if process is not None and process.poll() is None:
                stop_process(process)
        if self.redis is not None and self.redis.poll() is None:
            self.stop_redis()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=(self.logs / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _web_answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    @staticmethod
    def port_open(port: int) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


@dataclass
class Receiver:
    """A webhook receiver on loopback that verifies every signature and records what arrived."""

    secret: str = ""
    failing: bool = False
    arrivals: list[dict] = field(default_factory=list)

    def __post_init__(self):
        receiver = self
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                event = Webhook(receiver.secret).verify(body, dict(self.headers))
                with receiver.lock:
                    receiver.arrivals.append({"webhook_id": self.headers["webhook-id"], "type": event["type"]})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def ids(self) -> set[str]:
        with self.lock:
            return {arrival["webhook_id"] for arrival in self.arrivals}

    def duplicates(self) -> int:
        with self.lock:
            return len(self.arrivals) - len({arrival["webhook_id"] for arrival in self.arrivals})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Api:
    """A thin client of the running stack."""

    def __init__(self, base_url: str, key: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def post(self, path: str, body: dict | None = None, **headers) -> requests.Response:
        return self.session.post(
            self.base_url + path,
            data=json.dumps(body or {}),
            headers={"content-type": "application/json", **headers},
            timeout=30,
        )

    def subscribe(self, receiver: Receiver, **extra) -> dict:
        response = self.post("/v1/webhooks", {"url": receiver.url, "events": ["*"], **extra})
        assert response.status_code == 201, response.text
        receiver.secret = response.json()["secret"]
        return response.json()
