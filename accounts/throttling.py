import logging

from rest_framework import throttling

logger = logging.getLogger(__name__)


class FailOpenMixin:
    """Throttle state lives in Redis; if Redis is down, serve the request rather than fail it."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache failure
            logger.warning("rate limiting skipped: the cache is unreachable")
            return True


class ApiKeyRateThrottle(FailOpenMixin, throttling.SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class AnonymousRateThrottle(FailOpenMixin, throttling.AnonRateThrottle):
    scope = "anonymous"
