"""Load and its figures: wrk for closed-loop throughput, an open-loop pacer for latency, closed-loop
clients for bursts, and percentiles.

Every rate here is completions over elapsed wall time, and every open-loop latency is timed from
when its request was due (its place in the schedule), not from when a thread got round to it:
a stack that cannot keep up shows it as queueing in the latencies and as a shortfall in the rate,
never as a figure at the offered rate (coordinated omission).
"""

import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.config import LOGS

KEPT_UP = 0.95  # a paced load that completes less than this share of its offered rate fell behind


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def wrk(url: str, body: str, headers: dict, seconds: int = 10, connections: int = 16) -> float:
    """Requests per second from wrk, a load generator in another process (closed loop: its figure
    is completed requests over its run's wall time). `body` is a Lua expression, evaluated for
    each request."""
    script = LOGS / f"{url.rsplit('/', 1)[1]}.lua"
    lines = [
        'wrk.method = "POST"',
        *(f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()),
        f"request = function() return wrk.format(nil, nil, nil, {body}) end",
    ]
    script.write_text("\n".join(lines) + "\n")
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (LOGS / f"wrk-{url.rsplit('/', 1)[1]}.txt").write_text(output)
    non_2xx = next((line for line in output.splitlines() if "Non-2xx" in line), None)
    if non_2xx:
        raise SystemExit(f"bench: wrk saw errors at {url}: {non_2xx}")
    return float(next(line for line in output.splitlines() if line.startswith("Requests/sec")).split()[1])


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


@dataclass(frozen=True)
class Call:
    due: float  # when the schedule called for it (time.time())
    start: float  # when a thread sent it
    end: float  # when its answer came back
    result: object

    @property
    def latency_ms(self) -> float:
        """From when it was due to its answer: the time waiting for a free client counts."""
        return (self.end - self.due) * 1000


@dataclass(frozen=True)
class Paced:
    """What an open-loop load did: the calls answered, those never sent (the schedule's end plus
    its grace had passed when a thread came to them), and the wall time from the first call's due
    time to the last answer."""

    rate: float
    seconds: float
    calls: list[Call]
    unsent: int
    elapsed: float

    @property
    def achieved(self) -> float:
        """Answered calls over the wall time they took."""
        return len(self.calls) / self.elapsed if self.elapsed else 0.0

    @property
    def behind(self) -> bool:
        return bool(self.unsent) or self.achieved < KEPT_UP * self.rate

    @property
    def latencies_ms(self) -> list[float]:
        return [call.latency_ms for call in self.calls]

    def verdict(self) -> str:
        """ "" if the load held its rate; otherwise what it offered and what it achieved."""
        if not self.behind:
            return ""
        unsent = f", {self.unsent:,} never sent" if self.unsent else ""
        return f"behind: offered {self.rate:,.0f}/s, achieved {self.achieved:,.0f}/s{unsent}"


def paced(rate: float, seconds: float, send: Callable[[], object], *, threads: int = 64, grace: float = 10) -> Paced:
    """Call `send()` `rate` times a second for `seconds` (open loop), on up to `threads` calls at
    once. Each call is timed from its due time. Calls a thread reaches more than `grace` seconds
    after the schedule ended are not sent (counted as unsent), so an overloaded stack costs the
    bench a bounded time, not the whole backlog."""
    count = int(rate * seconds)
    calls: list[Call] = []
    unsent = [0]
    lock = threading.Lock()
    started = time.time()
    give_up = started + seconds + grace

    def call(due: float) -> None:
        begin = time.time()
        if begin > give_up:
            with lock:
                unsent[0] += 1
            return
        result = send()
        answered = Call(due=due, start=begin, end=time.time(), result=result)
        with lock:
            calls.append(answered)

    with ThreadPoolExecutor(threads) as pool:
        for index in range(count):
            due = started + index / rate
            if (delay := due - time.time()) > 0:
                time.sleep(delay)
            pool.submit(call, due)
    last = max((answered.end for answered in calls), default=started)
    return Paced(rate=rate, seconds=seconds, calls=calls, unsent=unsent[0], elapsed=last - started)


@dataclass
class Burst:
    """What closed-loop clients did: each call's (start, end, result), and the wall time from the
    first call's start to the last answer."""

    calls: list[Call] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


def burst(count: int, clients: int, send: Callable[[int], object], *, limit: float = 120) -> Burst:
    """`clients` threads, each sending its next call as soon as its last one was answered, until
    `count` calls in all were sent (or `limit` seconds passed). `send(number)` places call number
    `number`."""
    done = Burst(started=time.time())
    numbers = iter(range(count))
    lock = threading.Lock()
    deadline = done.started + limit

    def client() -> None:
        while time.time() < deadline:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            begin = time.time()
            result = send(number)
            with lock:
                done.calls.append(Call(due=begin, start=begin, end=time.time(), result=result))

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.finished = max((call.end for call in done.calls), default=done.started)
    return done
