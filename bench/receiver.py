"""A fast webhook receiver for the benchmarks: answers 204 at once (or hangs, on /hang), and
records when each event arrived. GET /stats returns what it saw."""

import argparse
import json
import threading
import time

from harness import LoopbackServer, QuietHandler


def serve(port: int, hang_seconds: float) -> None:
    arrivals: dict[str, float] = {}  # order id → first order.created to arrive, at any path
    by_path: dict[str, dict[str, float]] = {}  # path → order id → its order.created's arrival
    lock = threading.Lock()
    counts = {"requests": 0}
    paths: dict[str, int] = {}  # path → requests
    spans: dict[str, list[float]] = {}  # path → [first, last] request's arrival (time.time())

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind nginx would

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/hang":
                time.sleep(hang_seconds)
            now = time.time()
            envelope = json.loads(body)
            order = envelope.get("data", {}).get("order", {})
            with lock:
                counts["requests"] += 1
                paths[self.path] = paths.get(self.path, 0) + 1
                spans.setdefault(self.path, [now, now])[1] = now
                if envelope["type"] == "order.created":
                    arrivals.setdefault(order["id"], now)
                    by_path.setdefault(self.path, {}).setdefault(order["id"], now)
            self.reply(204)

        def do_GET(self):
            with lock:
                stats = {
                    "requests": counts["requests"],
                    "paths": paths,
                    "spans": spans,
                    "arrivals": arrivals,
                    "by_path": by_path,
                }
                body = json.dumps(stats).encode()
            self.reply(200, body, "application/json")

        def do_DELETE(self):
            with lock:
                arrivals.clear()
                by_path.clear()
                paths.clear()
                spans.clear()
                counts["requests"] = 0
            self.reply(204)

    LoopbackServer(Handler, port).serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang-seconds", type=float, default=10)
    options = parser.parse_args()
    serve(options.port, options.hang_seconds)
