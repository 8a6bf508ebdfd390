"""M1: resident memory at steady state of a gunicorn worker and of the largest Celery worker."""

from bench.context import Bench


def run(bench: Bench) -> None:
    for label, names in (("web", ["web"]), ("worker", bench.stack.workers)):
        rss = max(bench.stack.rss_mb(name) for name in names)
        bench.row(f"M1 {label} RSS at steady state", rss, "MB", None, "≤ 150 MB", rss <= 150)
