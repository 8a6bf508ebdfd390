"""One Redis connection pool per process for the cache, whatever asks.

Django makes a cache object, and with it a connection pool, per thread and per async context: so
each open event stream (a request that lasts) would hold a Redis connection of its own for as
long as it stays open. Named as the cache's `pool_class`, this class hands every one of them the
process's pool for that server. redis-py's pools are thread-safe and start afresh in a forked child.
"""

import threading

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _pools: dict[tuple, "SharedConnectionPool"] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options) -> "SharedConnectionPool":
        key = (url, repr(sorted(options.items())))
        with cls._lock:
            if key not in cls._pools:
                cls._pools[key] = super().from_url(url, **options)
            return cls._pools[key]
