"""Webhook requests in flight in one worker process.

A task hands its batch of deliveries to the sender and returns: requests run on a pool of
threads and their results are recorded in bulk by one thread. Each endpoint has at most
`per_endpoint` requests in flight; more wait in the endpoint's line. An endpoint whose requests
hang gets no line: its further deliveries are handed back to wait for a later attempt. So a
receiver that hangs holds a few threads, never a worker, and never delays other receivers.

Handing over is safe because the database, not the broker, keeps each delivery: one whose result
is never recorded (its process died) is sent again when its lease runs out.
"""

import logging
import queue
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone

from webhooks import transport

logger = logging.getLogger(__name__)

RECORD_BATCH = 500


@dataclass(frozen=True)
class Request:
    endpoint_id: uuid.UUID
    url: str
    body: bytes
    headers: dict[str, str]
    delivery: Any  # the claimed Delivery, handed back with its result
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
        stuck_after: float,
        max_wait: float,
    ):
        self._record = record
        self._per_endpoint = per_endpoint
        self._stuck_after = stuck_after  # an endpoint whose oldest request is older is stuck
        self._max_wait = max_wait  # in a line; longer, and the request is handed back
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook-send")
        self._lock = threading.Lock()
        # endpoint → request → when it went out (None: still waiting for a free thread)
        self._in_flight: dict[uuid.UUID, dict[int, float | None]] = defaultdict(dict)
        self._lines: dict[uuid.UUID, deque[Request]] = defaultdict(deque)
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._recorder = threading.Thread(target=self._record_until_closed, name="webhook-record", daemon=True)
        self._recorder.start()

    def submit(self, requests: Iterable[Request]) -> list[Request]:
        """Start or line up each request; return those refused because their endpoint is stuck."""
        refused, starting = [], []
        now = time.monotonic()
        with self._lock:
            for request in requests:
                in_flight = self._in_flight[request.endpoint_id]
                if len(in_flight) < self._per_endpoint:
                    in_flight[id(request)] = None
                    starting.append(request)
                elif self._is_stuck(in_flight, now):
                    refused.append(request)
                else:
                    self._lines[request.endpoint_id].append(request)
        for request in starting:
            self._pool.submit(self._send_in_turn, request)
        return refused

    def _is_stuck(self, in_flight: dict[int, float | None], now: float) -> bool:
        """Its oldest request has waited on the receiver too long. A request still waiting for one
        of our threads does not count: that is our load, not the receiver's."""
        started = [at for at in in_flight.values() if at is not None]
        return bool(started) and now - min(started) > self._stuck_after

    def _send_in_turn(self, request: Request | None) -> None:
        """Send the request, then the ones lined up behind it for the same endpoint."""
        while request is not None:
            with self._lock:
                self._in_flight[request.endpoint_id][id(request)] = time.monotonic()
            attempted_at = timezone.now()
            try:
                response = transport.post(url=request.url, body=request.body, headers=request.headers)
            except Exception as error:  # a bug here must not cost the endpoint its slot for good
                logger.exception("webhook request failed unexpectedly")
                response = transport.Response(None, "", f"internal error: {error}"[:500], 0, None)
            self._results.put(Result(request, response, attempted_at))
            request = self._next_after(request)

    def _next_after(self, done: Request) -> Request | None:
        now = time.monotonic()
        with self._lock:
            in_flight = self._in_flight[done.endpoint_id]
            del in_flight[id(done)]
            line = self._lines.get(done.endpoint_id)
            while line:
                request = line.popleft()
                if now - request.lined_up_at <= self._max_wait:
                    in_flight[id(request)] = now
                    return request
                self._results.put(Result(request, None))
            self._lines.pop(done.endpoint_id, None)
            if not in_flight:
                del self._in_flight[done.endpoint_id]
            return None

    def _record_until_closed(self) -> None:
        while (first := self._results.get()) is not None:
            batch = [first]
            while len(batch) < RECORD_BATCH:
                try:
                    result = self._results.get_nowait()
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
            waiting = [request for line in self._lines.values() for request in line]
            self._lines.clear()
        for request in waiting:
            self._results.put(Result(request, None))
        self._pool.shutdown(wait=True)
        self._results.put(None)
        self._recorder.join()
