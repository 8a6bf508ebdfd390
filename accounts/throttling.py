import functools
import logging

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework import throttling

from core.client_address import address_block, client_address
from core.errors import TooManyRequests

logger = logging.getLogger(__name__)


class FailOpenMixin:
    """Throttle state lives in Redis; if Redis is down, serve the request rather than fail it."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache failure
            logger.warning("rate limiting skipped: the cache is unreachable")
            return True


@functools.cache
def _redis() -> redis.Redis:
    # One immediate retry (a pooled connection may predate a Redis restart), then fail open at
    # once: the client's default backoff would hold every request for seconds.
    return redis.Redis.from_url(
        settings.CACHES["default"]["LOCATION"], socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 1)
    )


class CounterRateThrottle(throttling.SimpleRateThrottle):
    """A counter per client that starts with its first request and expires with the window: one
    Redis round trip per request at any rate. (DRF's own keeps a list of every request's time
    and rewrites it on each request, which grows with the allowed rate.)"""

    cache_format = "petstore:throttle:%(scope)s:%(ident)s"

    def allow_request(self, request, view):
        if self.rate is None or (key := self.get_cache_key(request, view)) is None:
            return True
        pipeline = _redis().pipeline()  # MULTI/EXEC: the counter cannot outlive its expiry
        pipeline.set(key, 0, ex=self.duration, nx=True).incr(key).ttl(key)
        _, count, self.seconds_left = pipeline.execute()
        return count <= self.num_requests

    def wait(self):
        return max(self.seconds_left, 1)


class ApiKeyRateThrottle(FailOpenMixin, CounterRateThrottle):
    """Requests with an API key, counted per user: all of a user's keys share one limit, so
    minting more keys buys no more requests."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"user:{request.auth.user_id}"}


class AnonymousRateThrottle(FailOpenMixin, CounterRateThrottle, throttling.AnonRateThrottle):
    """Requests without a key, counted per client address block (`core.client_address`: a client
    cannot choose it by sending X-Forwarded-For, nor escape it by rotating inside its IPv6 /64)."""

    scope = "anonymous"

    def get_ident(self, request):
        return address_block(client_address(request))


# --- Wrong API keys ---------------------------------------------------------------------------
# Authentication runs before the throttles, and a key the cache does not know costs a query: wrong
# keys are counted per client address block, and past API_KEY_FAILURE_LIMIT in a window of
# API_KEY_FAILURE_WINDOW seconds a key the cache does not know is refused before any query.

BAD_KEY_FORMAT = "petstore:bad-api-keys:{block}"


class TooManyBadKeys(TooManyRequests):
    code = "too-many-bad-api-keys"
    title = "Too many invalid API keys"


def refuse_while_guessing(*, address: str) -> None:
    """Raise `TooManyBadKeys` while this client's address block has used up its wrong keys."""
    key = BAD_KEY_FORMAT.format(block=address_block(address))
    try:
        count, seconds_left = _redis().pipeline(transaction=False).get(key).ttl(key).execute()
    except Exception:  # noqa: BLE001 - any cache failure: served without the limit, as requests are
        logger.warning("API key failure limit skipped: the cache is unreachable")
        return
    if count is not None and int(count) >= settings.API_KEY_FAILURE_LIMIT:
        logger.warning("API key refused unread: too many invalid keys from this address")
        raise TooManyBadKeys(
            "Too many invalid API keys from this address; try again later.", retry_after=max(seconds_left, 1)
        )


def count_bad_key(*, address: str) -> None:
    """One more wrong key from this client's address block."""
    key = BAD_KEY_FORMAT.format(block=address_block(address))
    try:
        pipeline = _redis().pipeline()  # MULTI/EXEC: the counter cannot outlive its window
        pipeline.set(key, 0, ex=settings.API_KEY_FAILURE_WINDOW, nx=True).incr(key).execute()
    except Exception:  # noqa: BLE001 - any cache failure
        logger.warning("API key failure not counted: the cache is unreachable")
