"""Where the benchmarks run: their database, Redis databases, ports and the environment of every
process they start."""

import os
from pathlib import Path

from harness import ROOT

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/petstore_bench")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", f"{REDIS}/10")
CACHE_URL = os.environ.get("BENCH_CACHE_URL", f"{REDIS}/11")
WEB_PORT = int(os.environ.get("BENCH_WEB_PORT", "8100"))
RECEIVER_PORT = int(os.environ.get("BENCH_RECEIVER_PORT", "8101"))
WEB, RECEIVER = f"http://127.0.0.1:{WEB_PORT}", f"http://127.0.0.1:{RECEIVER_PORT}"
LOGS: Path = ROOT / "artifacts" / "bench"
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "petstore.settings",
    "BENCH": "1",
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "CACHE_URL": CACHE_URL,
    "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",
    "API_RATE_LIMIT": "1000000/min",
    # The scenarios subscribe more endpoints than a customer may (MAX_WEBHOOK_ENDPOINTS_PER_USER).
    "MAX_WEBHOOK_ENDPOINTS_PER_USER": "100000",
    "LOG_LEVEL": "WARNING",
    # Mail is written out as SMTP would send it; the console backend's printing would be measured.
    "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    "EMAIL_FILE_PATH": str(LOGS / "mail"),
    # Orders of the API-only scenario (P1) are never processed; no sweep should pick them up later.
    "ORDER_RESUME_AFTER": "86400",
    "OUTBOX_RELAY_AFTER": "86400",
}
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
