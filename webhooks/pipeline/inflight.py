"""Webhook requests in flight in one worker process.

A task hands its batch of deliveries to the sender and returns: requests run on a pool of
threads and their results are recorded in bulk by one thread. Each endpoint has at most
`per_endpoint` requests in flight, and each owner (the customer whose endpoints they are) at most
`per_owner` across all their endpoints, so one customer's receivers, however many and however
slow, hold only that share of the threads and other customers always get through. More wait in
line, the owner's endpoints served in turn. An endpoint whose requests hang, or an owner whose
whole share hangs (none of their requests came back for a while), gets no line: further
deliveries are handed back to wait for a later attempt.
So a receiver that hangs holds a few threads, never a worker, and never delays other receivers.

Handing over is safe because the database, not the broker, keeps each delivery: one whose result
is never recorded (its process died) is sent again when its lease runs out.
"""

import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone
from urllib3.util import parse_url

from core import tracing
from webhooks.pipeline import transport

logger = logging.getLogger(__name__)

RECORD_BATCH = 500
# The recorder waits this long after a result for others to write with it: results come in bursts
# (one event to several endpoints), and each batch costs the same two statements and one commit.
# Receivers do not wait for it; the deliveries' rows show their outcome this much later.
RECORD_LINGER = 0.02


@dataclass(frozen=True)
class Request:
    endpoint_id: uuid.UUID
    owner_id: int  # the endpoint's owner, whose requests share `per_owner` threads
    url: str
    body: bytes
    headers: dict[str, str]
    delivery: Any  # the claimed Delivery, handed back with its result
    refusal: str = ""  # why it cannot be sent at all (recorded as a failed attempt, never sent)
    lined_up_at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class Result:
    request: Request
    response: transport.Response | None  # None: not sent, to be tried again later
    attempted_at: datetime | None = None


class Sender:
    def __init__(
        self,
        *,
        record: Callable[[list[Result]], None],
        concurrency: int,
        per_endpoint: int,
        per_owner: int,
        stuck_after: float,
        max_wait: float,
    ):
        self._record = record
        self._per_endpoint = per_endpoint
        self._per_owner = per_owner
        self._stuck_after = stuck_after  # an endpoint whose oldest request is older is stuck
        self._max_wait = max_wait  # in a line; longer, and the request is handed back
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook-send")
        self._lock = threading.Lock()
        # endpoint → request → when it went out (None: still waiting for a free thread)
        self._in_flight: dict[uuid.UUID, dict[int, float | None]] = {}
        self._owners: dict[int, _Owner] = {}
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._recorder = threading.Thread(target=self._record_until_closed, name="webhook-record", daemon=True)
        self._recorder.start()

    def submit(self, requests: Iterable[Request]) -> list[Request]:
        """Start or line up each request; return those refused because their endpoint, or their
        owner's whole share, is stuck."""
        refused, starting = [], []
        now = time.monotonic()
        with self._lock:
            for request in requests:
                owner = self._owners.setdefault(request.owner_id, _Owner())
                in_flight = self._in_flight.get(request.endpoint_id, {})
                if len(in_flight) < self._per_endpoint and owner.in_flight < self._per_owner:
                    self._start(request, owner, at=None)
                    starting.append(request)
                elif (len(in_flight) >= self._per_endpoint and self._is_stuck(in_flight, now)) or self._owner_is_stuck(
                    owner, now
                ):
                    refused.append(request)
                else:
                    owner.lines.setdefault(request.endpoint_id, deque()).append(request)
            for owner_id in {request.owner_id for request in refused}:
                self._forget_if_idle(owner_id)
        for request in starting:
            self._pool.submit(self._send_in_turn, request)
        return refused

    def _start(self, request: Request, owner: "_Owner", *, at: float | None) -> None:
        self._in_flight.setdefault(request.endpoint_id, {})[id(request)] = at
        owner.in_flight += 1
        if at is None:
            owner.waiting += 1
        else:
            owner.last_start = at

    def _owner_is_stuck(self, owner: "_Owner", now: float) -> bool:
        """Its whole share is out to its receivers, and none came back for a while. A share
        waiting for our threads does not count."""
        return owner.in_flight >= self._per_owner and not owner.waiting and now - owner.last_start > self._stuck_after

    def _is_stuck(self, in_flight: dict[int, float | None], now: float) -> bool:
        """None of its requests came back for a while: even the latest to go out has waited on the
        receiver too long. One slow answer among quick ones is not stuck (its other slots turn
        over, and the line moves). Nor is one with a request still waiting for one of our threads:
        that is our load, not the receiver's."""
        started = [at for at in in_flight.values() if at is not None]
        if not started or len(started) < len(in_flight):
            return False
        return now - max(started) > self._stuck_after

    def _send_in_turn(self, request: Request | None) -> None:
        """Send the request, then the owner's next one waiting in line."""
        while request is not None:
            with self._lock:
                now = time.monotonic()
                owner = self._owners[request.owner_id]
                if self._in_flight[request.endpoint_id][id(request)] is None:
                    owner.waiting -= 1
                self._in_flight[request.endpoint_id][id(request)] = owner.last_start = now
            attempted_at = timezone.now()
            try:
                response = attempt(request)
            except Exception:  # a bug here must not cost the endpoint its slot for good
                logger.exception("webhook request to endpoint %s failed unexpectedly", request.endpoint_id)
                response = transport.Response(None, "", "internal error", 0, None)
            self._results.put(Result(request, response, attempted_at))
            request = self._next_after(request)

    def _next_after(self, done: Request) -> Request | None:
        """Free the slots `done` held and take the next request its owner has waiting: its
        endpoints are served in turn, each within its own cap. The owner's lines wait for nothing
        else, so every request in them is taken by one of the owner's own threads, or handed back."""
        now = time.monotonic()
        with self._lock:
            owner = self._owners[done.owner_id]
            owner.in_flight -= 1
            del self._in_flight[done.endpoint_id][id(done)]
            if not self._in_flight[done.endpoint_id]:
                del self._in_flight[done.endpoint_id]
            for endpoint_id in list(owner.lines):
                line = owner.lines.pop(endpoint_id)
                while line and now - line[0].lined_up_at > self._max_wait:
                    self._results.put(Result(line.popleft(), None))
                if not line:
                    continue
                if len(self._in_flight.get(endpoint_id, ())) >= self._per_endpoint:
                    owner.lines[endpoint_id] = line  # still full: back of the turn
                    continue
                request = line.popleft()
                if line:
                    owner.lines[endpoint_id] = line  # served: back of the turn
                self._start(request, owner, at=now)
                return request
            self._forget_if_idle(done.owner_id)
            return None

    def _forget_if_idle(self, owner_id: int) -> None:
        owner = self._owners.get(owner_id)
        if owner is not None and not owner.in_flight and not owner.lines:
            del self._owners[owner_id]

    def _record_until_closed(self) -> None:
        while (first := self._results.get()) is not None:
            batch = [first]
            deadline = time.monotonic() + RECORD_LINGER
            while len(batch) < RECORD_BATCH:
                try:
                    result = self._results.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if result is None:
                    self._results.put(None)  # stop after this batch
                    break
                batch.append(result)
            close_old_connections()
            try:
                self._record(batch)
            except Exception:  # the database is away: these are sent again when their leases end
                logger.exception("recording %d webhook attempts failed", len(batch))
            finally:
                connection.close()  # back to the pool: a thread waiting for results holds none

    def close(self) -> None:
        """Hand back what waits in lines, let the requests in flight finish and record all."""
        with self._lock:
            waiting = [request for owner in self._owners.values() for line in owner.lines.values() for request in line]
            for owner in self._owners.values():
                owner.lines.clear()
        for request in waiting:
            self._results.put(Result(request, None))
        self._pool.shutdown(wait=True)
        self._results.put(None)
        self._recorder.join()


def attempt(request: Request) -> transport.Response:
    """Send one request. Tracing on, in a span of the trace its event continues (its `traceparent`
    header), which it sends as its own: the receiver's work is a child of this attempt."""
    if not tracing.enabled():
        return transport.post(url=request.url, body=request.body, headers=request.headers)
    parent = request.headers.get("traceparent", "")
    url = parse_url(request.url)  # the host only: a path or query may hold the customer's secrets
    attributes = {
        "http.request.method": "POST",
        "server.address": url.host or "",
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        "url.scheme": url.scheme or "",
        "petstore.webhook.endpoint_id": str(request.endpoint_id),
        "petstore.webhook.delivery_id": str(request.delivery.id),
        "petstore.webhook.event_id": request.headers.get("webhook-id", ""),
    }
    from opentelemetry.trace import StatusCode  # tracing is on: OpenTelemetry is loaded

    with tracing.span("POST webhook", parent=parent, kind="CLIENT", attributes=attributes) as span:
        headers = {**request.headers, "traceparent": tracing.traceparent_to_send(span, parent=parent)}
        response = transport.post(url=request.url, body=request.body, headers=headers)
        if response.status is not None:
            span.set_attribute("http.response.status_code", response.status)
        if not response.succeeded:
            span.set_attribute("error.type", response.error or str(response.status))
            span.set_status(StatusCode.ERROR, response.error or f"HTTP {response.status}")
    return response


@dataclass
class _Owner:
    """One owner's requests in this sender: how many hold a slot, and the lines of its endpoints."""

    in_flight: int = 0  # requests holding a slot: out to a receiver, or waiting for a thread
    waiting: int = 0  # of those, the ones waiting for a thread
    last_start: float = 0.0  # when one of its requests last went out
    lines: dict[uuid.UUID, deque[Request]] = field(default_factory=dict)  # in turn order
