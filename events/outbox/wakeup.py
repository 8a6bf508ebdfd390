"""The cheap wake-up path of the live stream: after a transaction that recorded events commits
(on both dispatch routes, `events.outbox.recording._record`), one Redis PUBLISH names the owners of its
events; each web process listens once and wakes the streams that may show them. The events table
stays the source of truth: a wake-up only says "look", and a lost one costs a stream at most
EVENT_STREAM_POLL_INTERVAL seconds.
"""

import asyncio
import json
import logging
from collections.abc import Iterable

import redis
import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "petstore:events:committed"
STAFF = "staff"  # the waiters that see every owner's events


def _redis_url() -> str:
    return settings.CACHES["default"]["LOCATION"]


_publisher: redis.Redis | None = None


def notify(*, owner_ids: Iterable[int | None]) -> None:
    """Tell every web process that events of these owners (None: store-wide) were committed."""
    global _publisher
    if _publisher is None:
        _publisher = redis.Redis.from_url(_redis_url(), socket_connect_timeout=1, socket_timeout=1)
    try:
        _publisher.publish(CHANNEL, json.dumps(sorted({str(owner) for owner in owner_ids})))
    except redis.RedisError:
        logger.warning("redis unreachable: open event streams see new events at their next poll")


class Listener:
    """One subscription per process (per event loop), fanned out to the streams waiting in it."""

    def __init__(self):
        self.waiters: dict[asyncio.Event, str] = {}
        self.task: asyncio.Task | None = None

    def register(self, *, owner: str) -> asyncio.Event:
        """An event set whenever `owner`'s events (any owner's, for STAFF) are committed."""
        woken = asyncio.Event()
        self.waiters[woken] = owner
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._listen())
        return woken

    def unregister(self, woken: asyncio.Event) -> None:
        self.waiters.pop(woken, None)

    async def _listen(self) -> None:
        while self.waiters:
            client = redis.asyncio.Redis.from_url(_redis_url(), socket_connect_timeout=1)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    while self.waiters:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self._wake(set(json.loads(message["data"])))
            except (redis.RedisError, OSError):
                logger.warning("redis unreachable: event streams poll until it answers again")
                await asyncio.sleep(settings.EVENT_STREAM_POLL_INTERVAL)
            finally:
                await client.aclose()

    def _wake(self, owners: set[str]) -> None:
        for woken, owner in self.waiters.items():
            if owner == STAFF or owner in owners:
                woken.set()


_listeners: dict[asyncio.AbstractEventLoop, Listener] = {}


def listener() -> Listener:
    """This event loop's listener."""
    loop = asyncio.get_running_loop()
    if loop not in _listeners:
        _listeners.clear()  # a loop that is gone (tests run one per test) keeps nothing alive
        _listeners[loop] = Listener()
    return _listeners[loop]
