"""Per-endpoint rate limits (`Endpoint.rate_limit`, deliveries per second), kept across every worker
process by one Redis key per endpoint.

Each request to a limited endpoint reserves the next free slot of its endpoint, atomically (a
Lua script: GCRA, the generic cell rate algorithm, slots 1/rate apart, no burst). A slot within
`HORIZON` seconds is kept, and the request waits for it here, in this process's pacer, holding no
sender thread; a slot further out is not reserved: the delivery goes back to the database, due
again shortly before its slot would come within reach. Either way it waits: it is not dropped,
not failed, and no attempt is counted. Requests to endpoints without a limit never come here.
"""

import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

HORIZON = 5.0  # seconds of slots a process may reserve ahead; more than the due sweep's period (2 s)

# KEYS[1]: the endpoint's next free slot (ms, Redis' clock); ARGV: interval ms, horizon ms.
# Returns the wait in ms before the reserved slot, or -wait when it lies beyond the horizon (not reserved).
RESERVE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = slot - now
if wait > tonumber(ARGV[2]) then return -wait end
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', math.ceil(wait + tonumber(ARGV[1])) + 1000)
return wait
"""


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CACHES["default"]["LOCATION"], socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 1)
    )


@functools.cache
def _reserve_script():
    return _redis().register_script(RESERVE)


def reserve(*, endpoint_id, rate: int) -> float:
    """Seconds until this endpoint's next slot, reserved for the caller; negative: the next slot
    is that far off, beyond HORIZON, and was not reserved."""
    wait_ms = _reserve_script()(keys=[f"petstore:webhook-rate:{endpoint_id}"], args=[1000 / rate, HORIZON * 1000])
    return int(wait_ms) / 1000


class Pacer:
    """Starts each request at its slot's time, on one thread for the process."""

    def __init__(self, start: Callable[[list], None]):
        self._start = start
        self._due: list[tuple[float, int, object]] = []  # (monotonic time, tie-breaker, request)
        self._counter = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="webhook-pacer", daemon=True)
        self._thread.start()

    def at(self, items: Iterable[tuple[float, object]]) -> None:
        """Start each request after its delay in seconds."""
        now = time.monotonic()
        with self._changed:
            for delay, request in items:
                heapq.heappush(self._due, (now + delay, next(self._counter), request))
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (not self._due or self._due[0][0] > time.monotonic()):
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._closed:
                    return
                now = time.monotonic()
                ready = []
                while self._due and self._due[0][0] <= now:
                    ready.append(heapq.heappop(self._due)[2])
            self._start(ready)

    def close(self) -> list:
        """Stop; the requests still waiting for their slot."""
        with self._changed:
            self._closed = True
            waiting = [request for _, _, request in self._due]
            self._due.clear()
            self._changed.notify()
        self._thread.join()
        return waiting
