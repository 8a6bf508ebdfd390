"""The live event stream: a user's events as Server-Sent Events, from a position in commit order
(`events.outbox.positions`), first what the database already holds, then each event as it commits.

The stream waits on the event loop, never in a thread of its own: it looks at the database when a
wake-up comes (`events.outbox.wakeup`), or every EVENT_STREAM_POLL_INTERVAL seconds (at most
ACCESS_CHECK_INTERVAL), sends a comment line at least every EVENT_STREAM_HEARTBEAT seconds, and
renews its slot (`events.stream.slots`) as it goes. A look runs on a small pool of threads that
all the process's streams share (LOOK_THREADS: also the most database connections they hold at
once), and holds its connection only while it runs. Each look also asks whether the stream's
access still holds, and ends the stream when it does not. Its own buffer is one batch of events:
it reads the next batch once the client has taken the last, and a client that takes nothing is cut
off by the server (`petstore.asgi`).
"""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Q, QuerySet

from events.models import Event
from events.outbox import positions, wakeup
from events.outbox.positions import Position
from events.stream import slots as stream_slots

BATCH = 100
# The longest wait between two looks, whatever EVENT_STREAM_POLL_INTERVAL says: a revoked key, a
# deactivated user or lost staff ends the stream within 10 s (the contract), a look's time included.
ACCESS_CHECK_INTERVAL = 5.0
LOOK_THREADS = 4
_lookers = ThreadPoolExecutor(max_workers=LOOK_THREADS, thread_name_prefix="event-stream-look")
# After a look that found events held back by an older transaction still open, look again soon.
HELD_BACK_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)


def streamed_events(*, user: User, patterns: list[str]) -> QuerySet[Event]:
    """What a user's stream shows: their own events (staff: everyone's and the store's), of the
    types that `patterns` name (exact types or `prefix.*`; none or `*`: all)."""
    events = Event.objects.all() if user.is_staff else Event.objects.filter(owner=user)
    if not patterns or "*" in patterns:
        return events
    wanted = Q()
    for pattern in patterns:
        wanted |= Q(type__startswith=pattern[:-1]) if pattern.endswith(".*") else Q(type=pattern)
    return events.filter(wanted)


def encode(event: Event) -> bytes:
    envelope = json.dumps(event.envelope(), cls=DjangoJSONEncoder, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {envelope}\n\n".encode()


def _look(
    events: QuerySet[Event], position: Position, still_allowed: Callable[[], bool]
) -> tuple[list[Event], Position, bool] | None:
    """The next batch after `position`, or None once access has ended. Access is asked after the
    read: whatever the read found was committed before the answer, so while access holds it was
    recorded while access held, and nothing recorded after access ended is ever sent."""
    try:
        looked = positions.read_after(events, position, limit=BATCH)
        return looked if still_allowed() else None
    finally:
        if not connection.in_atomic_block:
            connection.close()  # back to the pool: an open stream holds no connection while it waits


async def stream(
    *, user: User, events: QuerySet[Event], start: Position, slot: str, still_allowed: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The stream's body, from `start`, while `still_allowed()` (asked in a thread, with the
    database) says yes; gives its slot back when the client goes or access ends."""
    slots = stream_slots.async_client()
    look = sync_to_async(_look, thread_sensitive=False, executor=_lookers)  # no thread held per stream
    listener = wakeup.listener()
    woken = listener.register(owner=wakeup.STAFF if user.is_staff else str(user.id))
    position, held_back_tries = start, 0
    try:
        yield b": connected\n\n"
        now = time.monotonic()
        beat_due, renew_due = now + settings.EVENT_STREAM_HEARTBEAT, now + settings.EVENT_STREAM_SLOT_TTL / 3
        while True:
            woken.clear()  # before the look: a wake-up during it means look again
            looked = await look(events, position, still_allowed)
            if looked is None:
                yield b": access ended\n\n"
                return
            found, position, held_back = looked
            for event in found:
                yield encode(event)
            if len(found) == BATCH:
                continue
            now = time.monotonic()
            if now >= beat_due:
                yield b": heartbeat\n\n"
                beat_due = now + settings.EVENT_STREAM_HEARTBEAT
            if now >= renew_due:
                await stream_slots.renew(slots, user_id=user.id, slot=slot)
                renew_due = now + settings.EVENT_STREAM_SLOT_TTL / 3
            wait = min(min(beat_due, renew_due) - now, settings.EVENT_STREAM_POLL_INTERVAL, ACCESS_CHECK_INTERVAL)
            if held_back:
                wait = min(wait, HELD_BACK_DELAYS[min(held_back_tries, len(HELD_BACK_DELAYS) - 1)])
                held_back_tries += 1
            else:
                held_back_tries = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=max(wait, 0))
    finally:
        listener.unregister(woken)
        await stream_slots.give_back(slots, user_id=user.id, slot=slot)
