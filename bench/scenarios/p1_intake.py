"""P1: `POST /v1/orders` throughput with the API alone (workers stopped), orders spread over a
catalog of 40 pets, against a bare DRF insert (wrk, closed loop: completions over its wall time);
then the p99 latency at half that rate, open loop, each request timed from when it was due."""

from bench.config import WEB
from bench.context import Bench
from bench.load import lua_string, paced, percentile, wrk


def run(bench: Bench) -> None:
    baseline = wrk(f"{WEB}/bench/insert", lua_string('{"hello": "world"}'), {"Content-Type": "application/json"})
    pets = ", ".join(lua_string(pet_id) for pet_id in bench.catalog)
    body = (
        "(function() local pets = {" + pets + '}; return \'{"items": [{"pet_id": "\' .. '
        'pets[math.random(#pets)] .. \'", "quantity": 1}], "payment": {"method": "card", '
        '"token": "tok_visa"}}\' end)()'
    )
    ours = wrk(f"{WEB}/v1/orders", body, bench.auth)
    bench.row("P1 POST /v1/orders throughput", ours, "req/s", baseline, "≥ 0.6 × baseline", ours >= 0.6 * baseline)
    load = paced(ours / 2, 10, lambda: bench.client().post(f"{WEB}/v1/orders", json=bench.order))
    p99 = percentile(load.latencies_ms, 0.99)
    label = f"P1 p99 latency at {ours / 2:.0f} req/s, from each request's due time"
    bench.row(f"{label} {load.verdict()}".strip(), p99, "ms", None, "≤ 25 ms", p99 <= 25 and not load.behind)
