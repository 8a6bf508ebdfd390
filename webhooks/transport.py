"""The HTTP side of a delivery: urllib3 with a connection pool per process (requests' extra layers
cost more than the request itself at high rates), no redirects, no proxies, no retries, and a
check of the address each new connection actually reached."""

import functools
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import urllib3
from django.conf import settings
from django.utils import timezone
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks.targets import UnsafeTarget, check_connected_address

RESPONSE_BODY_LIMIT = 1024
USER_AGENT = "PetstoreEvents-Webhooks/1.0"


class CheckedPeerMixin:
    def _new_conn(self):
        sock = super()._new_conn()
        try:
            check_connected_address(sock.getpeername()[0])
        except UnsafeTarget:
            sock.close()
            raise
        return sock


class CheckedHTTPConnection(CheckedPeerMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(CheckedPeerMixin, HTTPSConnection):
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
        return self.status is not None and 200 <= self.status < 300


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Response:
    started = time.monotonic()
    try:
        response = _pool_manager().request(
            "POST",
            url,
            body=body,
            headers={"user-agent": USER_AGENT, **headers},
            timeout=settings.WEBHOOK_TIMEOUT,
            redirect=False,
            preload_content=False,
        )
        try:
            text = response.read(RESPONSE_BODY_LIMIT, decode_content=True).decode("utf-8", "replace")
            if response.read(1):
                response.close()  # more than we keep: drop the connection rather than read on
        finally:
            response.release_conn()
        return Response(
            status=response.status,
            body=text,
            error="",
            duration_ms=_since(started),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    except UnsafeTarget as error:
        return Response(status=None, body="", error=str(error), duration_ms=_since(started), retry_after=None)
    except urllib3.exceptions.HTTPError as error:
        reason = "timed out" if isinstance(error, urllib3.exceptions.TimeoutError) else type(error).__name__
        return Response(
            status=None, body="", error=f"{reason}: {error}"[:500], duration_ms=_since(started), retry_after=None
        )


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds, from either of its forms (delay-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
