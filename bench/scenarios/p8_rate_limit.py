"""P8: what rate limits cost endpoints without one. 5,000 deliveries due to 50 unlimited endpoints,
drained alone (the baseline), then again beside 2,000 due to an endpoint limited to 10/s (whose
deliveries keep being reserved, paced and put back while the others drain)."""

from bench.config import RECEIVER
from bench.context import Bench

UNLIMITED = ("--url", f"{RECEIVER}/fast", "--endpoints", "50", "--subjects", "100", "--replace")
LIMITED = ("--url", f"{RECEIVER}/limited", "--subjects", "2000", "--rate-limit", "10")


def run(bench: Bench) -> None:
    bench.subscribe("/idle", events=("webhook.test",))  # an owner for the set-up's endpoints
    alone = bench.drain("deliveries", *UNLIMITED, path="/fast", count=5000)
    beside = bench.drain("deliveries", *UNLIMITED, path="/fast", count=5000, also=LIMITED)
    bench.row("P8 baseline: 5,000 deliveries to 50 unlimited endpoints", alone, "deliveries/s", None, "—", True)
    bench.row(
        "P8 same beside a rate-limited endpoint's backlog",
        beside,
        "deliveries/s",
        alone,
        "no cost (≥ 0.9 × baseline, the noise)",
        beside >= 0.9 * alone,
    )
    bench.unsubscribe_all()
