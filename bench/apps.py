from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only when BENCH=1: the baseline endpoint the benchmarks compare against."""

    name = "bench"
