"""The event bus (CONTRACT §8): events published to RabbitMQ's durable topic exchange
`EVENT_BUS_EXCHANGE`, routing key = the event type, body = the envelope, with publisher confirms.

It knows only events. The outbox around it (which events still await the bus, the relay) is in
`events.outbox`; `publish_batch` below is the one place where a publish happens.

Why py-amqp (through kombu, both already in the stack) rather than pika: kombu parses the URL and
declares exchanges and queues for the publisher and the consumers alike, and py-amqp lets a
batch be confirmed as a whole (publish them all, then wait for the acks, which RabbitMQ may give
several at a time), where kombu's `confirm_publish` and pika's blocking channel wait for each
message in turn.
"""

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from amqp import Message
from django.conf import settings
from kombu import Connection, Exchange, Queue, binding

from events import tracing as events_tracing
from events.metrics import BUS_PUBLISHED, BUS_UNCONFIRMED
from events.models import Event

logger = logging.getLogger(__name__)

# After a failure the process leaves the bus alone this long: an outage costs one timeout per
# process now and then, not one per event (the relay publishes what was left).
COOL_OFF_SECONDS = 5.0


@dataclass(frozen=True)
class DurableQueue:
    name: str
    patterns: tuple[str, ...]


_durable_queues: dict[str, DurableQueue] = {}


def enabled() -> bool:
    return bool(settings.EVENT_BUS_URL)


def register_queue(name: str, *, patterns: Sequence[str]) -> None:
    """A durable queue the product declares (with its bindings) whenever it connects to the bus,
    so that it collects its events before its consumer first starts (the warehouse's)."""
    _durable_queues[name] = DurableQueue(name=name, patterns=tuple(patterns))


def exchange() -> Exchange:
    return Exchange(settings.EVENT_BUS_EXCHANGE, type="topic", durable=True)


def connection(*, heartbeat: float = 0) -> Connection:
    """A connection to the bus that gives up after EVENT_BUS_TIMEOUT on connect, read and write."""
    timeout = settings.EVENT_BUS_TIMEOUT
    return Connection(
        settings.EVENT_BUS_URL,
        connect_timeout=timeout,
        heartbeat=heartbeat,
        transport_options={"read_timeout": timeout, "write_timeout": timeout},
    )


def serve(connection: Connection) -> None:
    """Serve a consumer's callbacks until interrupted, keeping the connection's heartbeats."""
    while True:
        try:
            connection.drain_events(timeout=1)
        except TimeoutError:
            connection.heartbeat_check()


def durable_queue(name: str) -> Queue:
    """A registered durable queue, bound to the exchange with its patterns."""
    queue = _durable_queues[name]
    bindings = [binding(exchange(), routing_key=pattern) for pattern in queue.patterns]
    return Queue(queue.name, exchange=exchange(), bindings=bindings, durable=True, auto_delete=False)


def declare(channel) -> None:
    """The exchange and every registered durable queue (idempotent)."""
    exchange()(channel).declare()
    for name in _durable_queues:
        durable_queue(name)(channel).declare()


def message(event: Event) -> Message:
    """The event as the bus carries it: the envelope as JSON, with the properties of §8, and its
    trace (`traceparent` header) for the consumers to continue."""
    return Message(
        json.dumps(event.envelope(), separators=(",", ":")).encode(),
        content_type="application/json",
        content_encoding="utf-8",
        message_id=str(event.id),
        type=event.type,
        timestamp=int(event.created_at.timestamp()),  # AMQP timestamps are whole unix seconds
        delivery_mode=2,  # persistent
        application_headers=events_tracing.message_headers(event),
    )


class _Publisher:
    """This process's connection to the bus: one channel in confirm mode, shared by the process's
    threads in turn (a channel is not thread-safe; a batch takes a millisecond or two)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._channel = None
        self._sent = 0  # the channel's last delivery tag
        self._unconfirmed: dict[int, Event] = {}
        self._confirmed: list[Event] = []
        self._down_until = 0.0

    def publish(self, events: Sequence[Event]) -> list[Event]:
        with self._lock:
            if time.monotonic() < self._down_until:
                return []
            fresh = self._connection is None
            try:
                return self._publish(events)
            except Exception as error:  # noqa: BLE001 - socket, AMQP and channel errors alike
                self._close()
                if not fresh and not isinstance(error, TimeoutError):
                    # A connection that went stale while idle (the bus restarted): one more try, on a
                    # new one. Not after a timeout: the bus is slow or gone, and one wait is enough.
                    try:
                        return self._publish(events)
                    except Exception as second:  # noqa: BLE001
                        self._close()
                        error = second
                self._down_until = time.monotonic() + COOL_OFF_SECONDS
                logger.warning("event bus unreachable (%s): %d events left for the relay", error, len(events))
                return []

    def _publish(self, events: Sequence[Event]) -> list[Event]:
        if self._connection is None:
            self._connect()
        self._confirmed = []
        for event in events:
            self._sent += 1
            self._unconfirmed[self._sent] = event
            self._channel.basic_publish(message(event), exchange=settings.EVENT_BUS_EXCHANGE, routing_key=event.type)
        deadline = time.monotonic() + settings.EVENT_BUS_TIMEOUT
        while self._unconfirmed and (left := deadline - time.monotonic()) > 0:
            self._connection.drain_events(timeout=left)
        if self._unconfirmed:
            raise TimeoutError(f"{len(self._unconfirmed)} publishes not confirmed in time")
        return self._confirmed

    def _connect(self) -> None:
        self._connection = connection()
        self._connection.ensure_connection(max_retries=0)  # once: kombu's `connect()` tries again 2 s later
        self._channel = self._connection.channel()
        declare(self._channel)
        self._channel.confirm_select()
        self._channel.events["basic_ack"].add(self._on_ack)
        self._channel.events["basic_nack"].add(self._on_nack)
        self._sent = 0

    def _settled(self, delivery_tag: int, multiple: bool) -> list[Event]:
        tags = [tag for tag in self._unconfirmed if tag <= delivery_tag] if multiple else [delivery_tag]
        return [event for tag in tags if (event := self._unconfirmed.pop(tag, None))]

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._confirmed += self._settled(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        refused = self._settled(delivery_tag, multiple)
        logger.warning("event bus refused %d events: left for the relay", len(refused))

    def _close(self) -> None:
        self._unconfirmed.clear()
        if self._connection is not None:
            with contextlib.suppress(Exception):  # it is being dropped anyway
                # No closing handshake: on a dead connection it would wait for a reply that never comes.
                self._connection.collect()
        self._connection = self._channel = None


_publisher = _Publisher()


def publish_batch(events: Sequence[Event]) -> list[uuid.UUID]:
    """Publish `events` to the bus and wait for its confirms (at most EVENT_BUS_TIMEOUT); the ids of
    those it confirmed. Never raises: what was not confirmed stays in the outbox for the relay."""
    attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": settings.EVENT_BUS_EXCHANGE}
    with events_tracing.span_for_batch(events, f"publish {len(events)} events", attributes=attributes):
        confirmed = _publisher.publish(events)
    for event in confirmed:
        BUS_PUBLISHED.labels(event.type).inc()
    if unconfirmed := len(events) - len(confirmed):
        BUS_UNCONFIRMED.inc(unconfirmed)
    return [event.id for event in confirmed]


def reset() -> None:
    """Forget this process's connection and any cool-off (tests that point the bus elsewhere)."""
    global _publisher
    _publisher._close()
    _publisher = _Publisher()
