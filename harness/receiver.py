"""The loopback HTTP server under the webhook receivers of the benchmarks and the tests: threaded
(one slow request does not hold up the others), quiet, and stoppable."""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing per request and answers in one call."""

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    """`handler` on 127.0.0.1:`port` (0: any free port)."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0):
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        """A sender closing its connection (worker stopped, request timed out) is no error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def start(self) -> Self:
        """Serve in a background thread."""
        threading.Thread(target=self.serve_forever, name=f"receiver-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
