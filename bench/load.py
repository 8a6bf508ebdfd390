"""Load and its figures: wrk for closed-loop throughput, an open-loop pacer for latency, and
percentiles."""

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bench.config import LOGS


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def wrk(url: str, body: str, headers: dict, seconds: int = 10, connections: int = 16) -> float:
    """Requests per second from wrk, a load generator in another process. `body` is a Lua
    expression, evaluated for each request."""
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


def paced(rate: float, seconds: float, send: Callable[[], object]) -> list[tuple[float, float, object]]:
    """Call `send()` `rate` times a second for `seconds` (open loop); (start, end, result) each."""
    results = []
    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        for index in range(int(rate * seconds)):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(lambda: results.append((time.time(), send(), time.time())))
    return [(begin, end, result) for begin, result, end in results]
