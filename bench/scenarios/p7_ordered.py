"""P7: per-subject ordering's price. 3,000 deliveries due to one endpoint, three events for each of
1,000 subjects, drained with `ordering: per_subject` (each subject's next one goes only once the
previous one succeeded) against the same with no ordering."""

from bench.config import RECEIVER
from bench.context import Bench


def run(bench: Bench, subjects: int = 1000, events: int = 3) -> None:
    bench.subscribe("/idle", events=("webhook.test",))  # an owner for the set-up's endpoints
    total = subjects * events
    rates = {}
    for ordering in ("none", "per_subject"):
        rates[ordering] = bench.drain(
            "deliveries",
            *("--url", f"{RECEIVER}/fast", "--subjects", str(subjects), "--events", str(events)),
            *("--ordering", ordering, "--replace"),
            path="/fast",
            count=total,
        )
    bench.row(
        f"P7 baseline: {total:,} deliveries of {subjects:,} subjects to 1 endpoint, unordered",
        rates["none"],
        "deliveries/s",
        None,
        "—",
        True,
    )
    ours = rates["per_subject"]
    bench.row(
        "P7 same, ordering per_subject",
        ours,
        "deliveries/s",
        rates["none"],
        "≥ 0.5 × unordered",
        ours >= 0.5 * rates["none"],
    )
    bench.unsubscribe_all()
