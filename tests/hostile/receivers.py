"""Hostile webhook receivers: plain sockets on loopback, each connection answered by a behaviour
that may trickle, hang, flood or lie. Every wait is bounded: a behaviour ends when the receiver is
stopped, and the receiver stops within a second or two of being asked."""

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime

from django.utils import timezone

Behaviour = Callable[["Connection"], None]


class Connection:
    """One accepted connection, its request already read."""

    def __init__(self, sock: socket.socket, receiver: "HostileReceiver"):
        self.sock, self.receiver = sock, receiver

    def send(self, data: bytes) -> bool:
        """Send `data`; False once the client has gone (or the receiver stops)."""
        if self.receiver.stopped.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        with self.receiver.lock:
            self.receiver.bytes_sent += len(data)
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the receiver was stopped meanwhile."""
        return not self.receiver.stopped.wait(seconds)

    def trickle(self, data: bytes, every: float = 0.5) -> None:
        for byte in data:
            if not (self.send(bytes([byte])) and self.wait(every)):
                return

    def hang(self) -> None:
        self.receiver.stopped.wait()


class HostileReceiver:
    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0  # accepted
        self.finished = 0  # answered, or given up on
        self.requests: list[bytes] = []
        self.bytes_sent = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, path: str = "/hook?token=secret-in-the-query") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(1)
        try:
            request = _read_request(sock, self.stopped)
            if request is None:
                return
            with self.lock:
                self.requests.append(request)
            self.behaviour(Connection(sock, self))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self.lock:
                self.finished += 1

    def stop(self) -> None:
        self.stopped.set()
        self._server.close()
        for thread in self._threads:
            thread.join(timeout=5)


def _read_request(sock: socket.socket, stopped: threading.Event) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        if stopped.is_set():
            return None
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length and not stopped.is_set():
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return None
        body += chunk
    return data


def answer(status: str = "200 OK", body: bytes = b"ok", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- Behaviours -------------------------------------------------------------------------


def trickle_body(connection: Connection) -> None:
    """Headers at once, then the body a byte every half second: each read is quick."""
    body = b"x" * 100
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
    connection.trickle(body)


def trickle_everything(connection: Connection) -> None:
    """The status line and headers too, a byte every half second."""
    connection.trickle(answer(body=b"x" * 100))


def hang_after_headers(connection: Connection) -> None:
    """Headers late (just within a read timeout), then nothing."""
    if connection.wait(1.5):
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        connection.hang()


def gibibyte(connection: Connection) -> None:
    """A 1 GiB body, streamed as fast as the client reads it."""
    size = 1 << 30
    chunk = b"A" * 65536
    if connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size):
        for _ in range(size // len(chunk)):
            if not connection.send(chunk):
                return


def body(content: bytes, status: str = "200 OK") -> Behaviour:
    return lambda connection: connection.send(answer(status, content))


def retry_after(value: str, status: str = "503 Service Unavailable") -> Behaviour:
    return lambda connection: connection.send(answer(status, b"busy", {"Retry-After": value}))


def http_date(seconds_from_now: float) -> str:
    return format_datetime(timezone.now() + timedelta(seconds=seconds_from_now), usegmt=True)


def raw(data: bytes) -> Behaviour:
    """Exactly `data`, whatever it is, then close."""
    return lambda connection: connection.send(data)


def close_mid_body(connection: Connection) -> None:
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")


def close_at_once(connection: Connection) -> None:
    pass


def redirect(location: str) -> Behaviour:
    return lambda connection: connection.send(answer("302 Found", b"", {"Location": location}))


def slow_then(seconds: float, then: Behaviour) -> Behaviour:
    def behaviour(connection: Connection) -> None:
        if connection.wait(seconds):
            then(connection)

    return behaviour


def elapsed(since: float) -> float:
    return time.monotonic() - since
