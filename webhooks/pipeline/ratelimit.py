"""Per-endpoint rate limits (`Endpoint.rate_limit`, deliveries per second), kept across every worker
process by one Redis key per endpoint.

Each request to a limited endpoint is given the next free slot of its endpoint, atomically (a Lua
script: GCRA, the generic cell rate algorithm, slots 1/rate apart, no burst). A slot within
`HORIZON` seconds is waited for here, in this process's pacer, holding no sender thread. A slot
further out is booked for that delivery (a Redis hash beside the key) and the delivery goes back
to the database, due again shortly before its own slot: a backlog is spread at the endpoint's
rate, each delivery claimed again about once, and when it comes back it keeps its slot (later
requests queue behind it). A booked slot already past when its delivery comes back (a worker
was down) is given up for the next free one, so a late backlog never leaves in a burst. Either
way it waits: it is not dropped, not failed, and no attempt is counted. Requests to endpoints
without a limit never come here.
"""

import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

HORIZON = 5.0  # seconds of slots a process may wait for itself; more than the due sweep's period (2 s)
LEAD = HORIZON - 1.0  # a delivery booked beyond HORIZON is due again this long before its slot

# KEYS[1]: the endpoint's next free slot (ms, Redis' clock); KEYS[2]: slots booked beyond the
# horizon, delivery id → slot ms. ARGV: interval ms, horizon ms, then the deliveries' ids.
# Returns each delivery's wait in ms before its slot.
RESERVE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local interval, horizon = tonumber(ARGV[1]), tonumber(ARGV[2])
local free = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local waits = {}
for i = 3, #ARGV do
  local slot = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '-1')
  if slot < now then
    slot = free
    free = free + interval
  end
  if slot - now > horizon then
    redis.call('HSET', KEYS[2], ARGV[i], slot)
  else
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
  waits[#waits + 1] = slot - now
end
redis.call('SET', KEYS[1], free, 'PX', math.ceil(free - now) + 1000)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], math.ceil(free - now) + 60000)
end
return waits
"""


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CACHES["default"]["LOCATION"], socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 1)
    )


@functools.cache
def _reserve_script():
    return _redis().register_script(RESERVE)


def reserve(*, endpoint_id, rate: int, delivery_ids: Sequence) -> list[float]:
    """Seconds until each delivery's slot at this endpoint, in one round trip: its booked slot if it
    has one still ahead, else the next free one, taken for it. A wait beyond HORIZON is booked."""
    key = f"petstore:webhook-rate:{endpoint_id}"
    args = [1000 / rate, HORIZON * 1000, *(str(delivery_id) for delivery_id in delivery_ids)]
    return [int(wait_ms) / 1000 for wait_ms in _reserve_script()(keys=[key, f"{key}:booked"], args=args)]


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
