"""The HTTP side of a delivery: one pooled session per worker thread, no redirects, no proxies,
and a check of the address each new connection actually reached."""

import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
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


class CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }


_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment would bypass the address check
        session.headers["user-agent"] = USER_AGENT
        adapter = CheckedAdapter(pool_connections=64, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return _local.session


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
        with _session().post(
            url, data=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT, allow_redirects=False, stream=True
        ) as response:
            text = response.raw.read(RESPONSE_BODY_LIMIT, decode_content=True).decode("utf-8", "replace")
            return Response(
                status=response.status_code,
                body=text,
                error="",
                duration_ms=_since(started),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
    except UnsafeTarget as error:
        return Response(status=None, body="", error=str(error), duration_ms=_since(started), retry_after=None)
    except requests.RequestException as error:
        reason = "timed out" if isinstance(error, requests.Timeout) else type(error).__name__
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
