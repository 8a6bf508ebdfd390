"""Test settings: the product's settings, on their own Redis databases, with a short retry
schedule. The worker processes that tests start read the same module."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-elsewhere")
# pytest-xdist runs the suite in lanes (gw0, gw1, …), each with a database of its own (pytest-django
# names it) and three Redis databases of its own: broker, cache and the budget test's broker.
# TEST_REDIS_URL names another Redis server for the whole suite.
LANE = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
os.environ.setdefault("CELERY_BROKER_URL", f"{REDIS}/{14 - 3 * LANE}")
os.environ.setdefault("CACHE_URL", f"{REDIS}/{15 - 3 * LANE}")
os.environ.setdefault("BUDGET_BROKER_URL", f"{REDIS}/{13 - 3 * LANE}")
os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "1")
os.environ.setdefault("WEBHOOK_RETRY_SCHEDULE", "1,1")
os.environ.setdefault("WEBHOOK_TIMEOUT", "3")
# Tests send many test events to load the sender; tests/test_webhooks_api.py checks the limit itself.
os.environ.setdefault("WEBHOOK_TEST_RATE_LIMIT", "1000/min")
# Metrics of the test process and of the workers it starts meet here, as in production.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="petstore-metrics-"))

from petstore.settings import *  # noqa: E402, F403
from petstore.settings import BASE_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: tests create many users
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so that worker processes share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
# Pages render without `collectstatic` having run (the run command collects them).
STATIC_ROOT = None
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
