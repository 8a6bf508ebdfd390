"""A fast webhook receiver for the benchmarks: answers 204 at once (or hangs, on /hang), and
records when each event arrived. GET /stats returns what it saw."""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A sender closing its connection (worker stopped, request timed out) is no error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(port: int, hang_seconds: float) -> None:
    arrivals: dict[str, float] = {}  # order id → first order.created to arrive, at any path
    by_path: dict[str, dict[str, float]] = {}  # path → order id → its order.created's arrival
    lock = threading.Lock()
    counts = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
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
                if envelope["type"] == "order.created":
                    arrivals.setdefault(order["id"], now)
                    by_path.setdefault(self.path, {}).setdefault(order["id"], now)
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                body = json.dumps({"requests": counts["requests"], "arrivals": arrivals, "by_path": by_path}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_DELETE(self):
            with lock:
                arrivals.clear()
                by_path.clear()
                counts["requests"] = 0
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = QuietServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang-seconds", type=float, default=10)
    options = parser.parse_args()
    serve(options.port, options.hang_seconds)
