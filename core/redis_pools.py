"""One Redis connection pool per process for the cache, whatever asks, and one client per pool.

Django makes a cache object, and with it a connection pool, per thread and per async context: so
each open event stream (a request that lasts) would hold a Redis connection of its own for as
long as it stays open. Named as the cache's `pool_class`, `SharedConnectionPool` hands every one
of them the process's pool for that server. redis-py's pools are thread-safe and start afresh in
a forked child.

Django also makes a `redis.Redis` for every cache call, and redis-py fills some 150 response
callbacks into each: 1 to 2 % of a busy process's CPU. `RedisCache` (the cache's `BACKEND`) keeps
one client per pool instead; a client over a pool is as thread-safe as the pool.
"""

import threading

import redis
from django.core.cache.backends import redis as django_redis


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


class _ClientPerPool(django_redis.RedisCacheClient):
    def get_client(self, key=None, *, write=False) -> redis.Redis:
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients", {})
        if (client := clients.get(id(pool))) is None:  # two threads may both make one: either serves
            client = clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ClientPerPool
