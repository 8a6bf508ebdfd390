"""The whole product as separate processes, for fault injection: its own Redis on its own port,
gunicorn, Celery workers (supervised) and beat, all against the test database; and webhook
receivers that verify signatures and can be told to fail."""

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import requests
from standardwebhooks import Webhook

from harness import LoopbackServer, Processes, QuietHandler, free_port, port_open


class Stack:
    def __init__(self, *, base_env: dict, logs: Path, broker_url: str | None = None):
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
        self.processes = Processes(env=self.env, logs=logs)
        self.url = f"http://127.0.0.1:{self.web_port}"

    def start(self, *, workers: int = 1) -> "Stack":
        self.start_redis()
        self.processes.start_web(port=self.web_port, workers=2, threads=8, wait=False)
        self.processes.start_workers(workers, loglevel="INFO", concurrency=16)
        self.processes.start_beat(loglevel="INFO")
        self.processes.wait_for_web(self.url, timeout=30)
        self.processes.supervise()
        return self

    def start_redis(self) -> None:
        self.processes.start_redis(self.redis_port)

    def stop_redis(self) -> None:
        self.processes.kill("redis")  # like a crash: no persistence, every queued task is gone

    def signal_worker(self, index: int, signum: int) -> None:
        """Send a worker a signal, wait for it to exit and start another in its place."""
        self.processes.replace_worker(index, signum)

    @property
    def unexpected_exits(self) -> int:
        return self.processes.restarts

    def stop(self) -> None:
        self.processes.stop_all()

    port_open = staticmethod(port_open)


@dataclass
class Receiver:
    """A webhook receiver on loopback that verifies every signature and records what arrived."""

    secret: str = ""
    failing: bool = False
    arrivals: list[dict] = field(default_factory=list)

    def __post_init__(self):
        receiver = self
        self.lock = threading.Lock()

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.failing:
                    self.reply(503)
                    return
                event = Webhook(receiver.secret).verify(body, dict(self.headers))
                with receiver.lock:
                    receiver.arrivals.append({"webhook_id": self.headers["webhook-id"], "type": event["type"]})
                self.reply(204)

        self.server = LoopbackServer(Handler).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/hook"

    def ids(self) -> set[str]:
        with self.lock:
            return {arrival["webhook_id"] for arrival in self.arrivals}

    def duplicates(self) -> int:
        with self.lock:
            return len(self.arrivals) - len({arrival["webhook_id"] for arrival in self.arrivals})

    def stop(self) -> None:
        self.server.stop()


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
