"""The HTTP side of a delivery: urllib3 with a connection pool per process (requests' extra layers
cost more than the request itself at high rates), no redirects, no proxies, no retries.

A receiver is not trusted to behave:
- An attempt has a hard deadline, WEBHOOK_TIMEOUT from its start to the last byte read. urllib3's
  timeouts bound each read, not their sum, so a receiver trickling a byte at a time could hold an
  attempt for ever; here a watchdog thread shuts the attempt's socket down at its deadline, which
  wakes whatever read or write is waiting, whatever stage the exchange is at (TLS handshake,
  status line, headers, body).
- Each new connection resolves the host once, checks every address against
  `webhooks.pipeline.targets`, and connects to a checked address (the TLS name and Host header stay the
  URL's host): no second lookup can answer differently.
- Only the first KiB of the body is read; a longer body is not read on, its connection is dropped.
- Errors are a few fixed phrases that never name the URL, its path or query, nor say why a
  connection failed: a refused special-purpose address, a closed port and an unreachable host all
  read "could not connect", so the deliveries log cannot map a network.
"""

import contextlib
import functools
import heapq
import http.client
import itertools
import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import urllib3
from django.conf import settings
from django.utils import timezone
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks.pipeline import targets

RESPONSE_BODY_LIMIT = 1024
USER_AGENT = "PetstoreEvents-Webhooks/1.0"

COULD_NOT_CONNECT = "could not connect"
TIMED_OUT = "timed out"


class _Attempt:
    """One request's deadline and the sockets it uses, shut down when the deadline passes."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.expired = False
        self._done = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline. A duplicate of its descriptor is kept, which this
        attempt alone closes: the watchdog never touches a descriptor that may have been reused."""
        with self._lock:
            if self._done:
                return
            watched = sock.dup()
            self._watched.append(watched)
            if self.expired:
                _shut_down(watched)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._watched:
                _shut_down(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            for sock in self._watched:
                sock.close()
            self._watched.clear()


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the receiver
        sock.shutdown(socket.SHUT_RDWR)  # the socket, not this descriptor: every reader wakes up


class _Watchdog:
    """One thread per process that expires attempts at their deadlines.

    It is woken only by an attempt due before every other (attempts share one timeout, so that is
    rarely any but the first), and expires together the attempts due within COALESCE of the first
    (most of them finished long before): a thread wake-up per burst of attempts, not two per attempt.
    """

    COALESCE = 0.05  # seconds an attempt may run past its deadline, against WEBHOOK_TIMEOUT's 10

    def __init__(self):
        self._condition = threading.Condition()
        self._deadlines: list[tuple[float, int, _Attempt]] = []
        self._order = itertools.count()
        threading.Thread(target=self._run, name="webhook-deadlines", daemon=True).start()

    def add(self, attempt: _Attempt) -> None:
        with self._condition:
            first = not self._deadlines or attempt.deadline < self._deadlines[0][0]
            heapq.heappush(self._deadlines, (attempt.deadline, next(self._order), attempt))
            if first:  # otherwise the watchdog already wakes in time for it
                self._condition.notify()

    def _run(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                while self._deadlines and self._deadlines[0][0] <= now:
                    heapq.heappop(self._deadlines)[2].expire()
                wait = self._deadlines[0][0] + self.COALESCE - now if self._deadlines else None
                self._condition.wait(wait)


_watchdogs: dict[int, _Watchdog] = {}
_watchdogs_lock = threading.Lock()
_current = threading.local()  # the attempt this thread is making


def _watchdog() -> _Watchdog:
    with _watchdogs_lock:  # a thread does not survive a fork: one watchdog per process
        if os.getpid() not in _watchdogs:
            _watchdogs[os.getpid()] = _Watchdog()
        return _watchdogs[os.getpid()]


class CheckedConnectionMixin:
    """Resolve once, check every address, connect to a checked one, and watch the socket."""

    def _new_conn(self) -> socket.socket:
        attempt: _Attempt | None = getattr(_current, "attempt", None)
        addresses = targets.resolve(self._dns_host, self.port)
        last_error: OSError | None = None
        for family, sockaddr in addresses:
            timeout = self.timeout
            if attempt is not None:
                timeout = attempt.remaining() if timeout is None else min(timeout, attempt.remaining())
                if timeout <= 0:
                    break
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as error:
                sock.close()
                last_error = error
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            if attempt is not None:
                attempt.watch(sock)
                self._watched_by = attempt
            return sock
        raise urllib3.exceptions.NewConnectionError(self, COULD_NOT_CONNECT) from last_error

    def request(self, *args, **kwargs) -> None:
        attempt: _Attempt | None = getattr(_current, "attempt", None)
        if attempt is not None and self.sock is not None and getattr(self, "_watched_by", None) is not attempt:
            attempt.watch(self.sock)  # a pooled connection, opened by an earlier attempt
            self._watched_by = attempt
        super().request(*args, **kwargs)


class CheckedHTTPConnection(CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(CheckedConnectionMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


@functools.cache
def _pool_manager() -> urllib3.PoolManager:
    manager = urllib3.PoolManager(
        num_pools=1000,  # endpoints' hosts whose connections are kept
        maxsize=settings.WEBHOOK_CONCURRENCY,  # many endpoints may share one host
        retries=False,
    )
    manager.pool_classes_by_scheme = {"http": CheckedHTTPConnectionPool, "https": CheckedHTTPSConnectionPool}
    return manager


@dataclass(frozen=True)
class Response:
    status: int | None
    body: str
    error: str
    duration_ms: int
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST `body` to `url`; the receiver's answer, or what went wrong, within WEBHOOK_TIMEOUT."""
    started = time.monotonic()
    try:
        targets.parse(url)  # saved before the rules of today, perhaps
    except targets.UnsafeTarget:
        return Response(status=None, body="", error="refused: not a valid webhook URL", duration_ms=0, retry_after=None)
    attempt = _Attempt(started + settings.WEBHOOK_TIMEOUT)
    _watchdog().add(attempt)
    _current.attempt = attempt
    response, complete = None, False
    try:
        response = _pool_manager().request(
            "POST",
            url,
            body=body,
            headers={"user-agent": USER_AGENT, "accept-encoding": "identity", **headers},
            timeout=urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT, read=settings.WEBHOOK_TIMEOUT),
            redirect=False,
            preload_content=False,
            decode_content=False,
        )
        kept = response.read(RESPONSE_BODY_LIMIT, decode_content=False)
        complete = not response.read(1, decode_content=False)  # more than we keep: not read on
        if attempt.expired:
            raise TimeoutError
        return Response(
            status=response.status,
            body=kept.decode("utf-8", "replace"),
            error="",
            duration_ms=_since(started),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    except (urllib3.exceptions.HTTPError, targets.UnsafeTarget, http.client.HTTPException, OSError) as error:
        return Response(
            status=response.status if response is not None else None,
            body="",
            error=TIMED_OUT if attempt.expired else describe(error),
            duration_ms=_since(started),
            retry_after=None,
        )
    finally:
        _current.attempt = None
        attempt.finish()
        if response is not None:
            if not complete or attempt.expired:
                response.close()  # the connection goes, rather than anything left on it
            response.release_conn()


def describe(error: BaseException) -> str:
    """A fixed phrase for what went wrong: never the URL, never the receiver's own words."""
    causes = _causes(error)
    if any(isinstance(cause, targets.UnsafeTarget | urllib3.exceptions.NewConnectionError) for cause in causes):
        return COULD_NOT_CONNECT
    if any(isinstance(cause, TimeoutError | socket.timeout | urllib3.exceptions.TimeoutError) for cause in causes):
        return TIMED_OUT
    if any(isinstance(cause, ssl.SSLError | urllib3.exceptions.SSLError) for cause in causes):
        return "TLS handshake failed"
    if any(isinstance(cause, http.client.IncompleteRead) or "IncompleteRead" in str(cause) for cause in causes):
        return "connection closed mid-response"
    if any(isinstance(cause, http.client.RemoteDisconnected | ConnectionError) for cause in causes):
        return "connection closed before a complete response"
    if any(isinstance(cause, http.client.HTTPException) for cause in causes):
        return "invalid HTTP response"
    return "request failed"


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps: urllib3 keeps the original in its arguments or as the cause."""
    seen, pending = [], [error]
    while pending and len(seen) < 10:
        cause = pending.pop()
        if cause in seen:
            continue
        seen.append(cause)
        pending.extend(arg for arg in cause.args if isinstance(arg, BaseException))
        pending.extend(link for link in (cause.__cause__, cause.__context__) if link is not None)
    return seen


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds, from either of its forms (delay-seconds or an HTTP date); None when
    it cannot be read. It may be huge (infinite, even): the retry policy bounds it."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value) if len(value) < 16 else float("inf")
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
