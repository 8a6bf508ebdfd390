"""P5: P2 with ten endpoints, then the same with one of them hanging: the nine healthy endpoints'
p99 against all ten's when none hangs, the same load both times."""

from bench.context import Bench
from bench.load import percentile
from bench.scenarios.p2_order_to_webhook import order_to_webhook


def run(bench: Bench) -> None:
    healthy = [f"/fast/{number}" for number in range(1, 10)]
    for path in [*healthy, "/fast/10"]:
        bench.subscribe(path, events=("order.created",))
    latencies, load = order_to_webhook(bench, paths=[*healthy, "/fast/10"])
    base = percentile(latencies, 0.99)
    bench.row(f"P5 baseline: P2 to 10 healthy endpoints, p99 {load.verdict()}".strip(), base, "ms", None, "—", True)
    bench.settle()
    bench.unsubscribe_all()
    for path in [*healthy, "/hang"]:
        bench.subscribe(path, events=("order.created",))
    latencies, load = order_to_webhook(bench, paths=healthy)
    p99 = percentile(latencies, 0.99)
    passed = p99 <= 1.5 * base and not load.behind
    label = f"P5 same with 1 of 10 hanging: healthy endpoints, p99 {load.verdict()}".strip()
    bench.row(label, p99, "ms", base, "≤ 1.5 × baseline", passed)
    bench.unsubscribe_all()
