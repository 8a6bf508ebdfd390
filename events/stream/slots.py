"""Open streams per user, counted across every web process in Redis.

A user's slots are a sorted set: member = one stream, score = when its slot expires. A stream
renews its slot as it goes (`renew`), so the slot of a process that was killed expires after
EVENT_STREAM_SLOT_TTL seconds instead of leaking. Taking a slot is one atomic step (a Lua script):
parallel requests cannot slip past the limit. If Redis does not answer, streams are served without
a limit, as API requests are served without rate limits (fail open).
"""

import asyncio
import functools
import logging
import time
import uuid

import redis
import redis.asyncio
from django.conf import settings

from core.errors import TooManyRequests

logger = logging.getLogger(__name__)

KEY_FORMAT = "petstore:event-streams:{user_id}"
TAKE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[3], ARGV[4])
redis.call('expire', KEYS[1], ARGV[5])
return 1
"""


class TooManyStreams(TooManyRequests):
    code = "too-many-event-streams"
    title = "Too many event streams"


def _client() -> redis.Redis:
    return _client_for(settings.CACHES["default"]["LOCATION"])


@functools.cache
def _client_for(url: str) -> redis.Redis:
    """One client (its pool) per process for the streams that open, not a connection each."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def key(user_id: int) -> str:
    return KEY_FORMAT.format(user_id=user_id)


def take(*, user_id: int) -> str:
    """A slot for a new stream of this user (its id), or `TooManyStreams`."""
    slot = uuid.uuid4().hex
    ttl = settings.EVENT_STREAM_SLOT_TTL
    now = time.time()
    try:
        taken = _client().eval(TAKE, 1, key(user_id), now, settings.MAX_EVENT_STREAMS_PER_USER, now + ttl, slot, ttl)
    except redis.RedisError:
        logger.warning("redis unreachable: event streams are not limited until it answers again")
        return slot
    if not taken:
        raise TooManyStreams(
            f"This account already has {settings.MAX_EVENT_STREAMS_PER_USER} event streams open, the most it "
            "may hold; close one first.",
            retry_after=settings.EVENT_STREAM_HEARTBEAT,
        )
    return slot


async def renew(client: redis.asyncio.Redis, *, user_id: int, slot: str) -> None:
    ttl = settings.EVENT_STREAM_SLOT_TTL
    try:
        await client.zadd(key(user_id), {slot: time.time() + ttl})
        await client.expire(key(user_id), ttl)
    except (redis.RedisError, OSError):
        logger.warning("redis unreachable: could not renew an event stream's slot")


async def give_back(client: redis.asyncio.Redis, *, user_id: int, slot: str) -> None:
    try:
        await client.zrem(key(user_id), slot)
    except (redis.RedisError, OSError):
        logger.warning("redis unreachable: an event stream's slot expires on its own")


# Renewals are rare and short: every stream of a process shares one client of at most this many
# connections (a renewal waits its turn rather than opening one more).
ASYNC_CONNECTIONS = 2
_async_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}


def async_client() -> redis.asyncio.Redis:
    """This event loop's client, shared by all its streams."""
    loop = asyncio.get_running_loop()
    if loop not in _async_clients:
        _async_clients.clear()  # a loop that is gone (tests run one per test) keeps nothing alive
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.CACHES["default"]["LOCATION"],
            max_connections=ASYNC_CONNECTIONS,
            timeout=1,
            socket_connect_timeout=1,
            socket_timeout=1,
        )
        _async_clients[loop] = redis.asyncio.Redis(connection_pool=pool)
    return _async_clients[loop]
