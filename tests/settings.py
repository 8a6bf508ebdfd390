"""Test settings: the product's settings, on their own Redis databases, with a short retry
schedule. The worker processes that tests start read the same module."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-elsewhere")
# pytest-xdist runs the suite in lanes (gw0, gw1, …), each with a database of its own (pytest-django
# names it) and three Redis databases of its own: broker, cache and the budget test's broker.
# TEST_REDIS_URL names another Redis server for the whole suite. The processes a lane starts
# inherit its URLs (and may be given others); a lane never keeps the URLs it inherited from the
# pytest process that started the lanes, which read this module first.
LANE_NAME = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
LANE = int(LANE_NAME.removeprefix("gw"))
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
inherited_from_another_lane = os.environ.get("PETSTORE_TEST_LANE", LANE_NAME) != LANE_NAME
os.environ["PETSTORE_TEST_LANE"] = LANE_NAME
for name, database in {"CELERY_BROKER_URL": 14, "CACHE_URL": 15, "BUDGET_BROKER_URL": 13}.items():
    if inherited_from_another_lane or name not in os.environ:
        os.environ[name] = f"{REDIS}/{database - 3 * LANE}"
# `make test-fast` needs no service: the broker and the cache in memory, and the Redis counters
# (rate limits, login limits, stream slots) failing open against a Redis that is not there. It
# runs only the tests marked for none of Redis, PostgreSQL, worker processes or a browser.
NO_SERVICES = os.environ.get("PETSTORE_TEST_NO_SERVICES") == "1"
if NO_SERVICES:
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CACHE_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there: refused at once
os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "1")
os.environ.setdefault("WEBHOOK_RETRY_SCHEDULE", "1,1")
os.environ.setdefault("WEBHOOK_TIMEOUT", "3")
# Tests send many test events to load the sender; tests/webhooks/test_webhooks_api.py checks the limit itself.
os.environ.setdefault("WEBHOOK_TEST_RATE_LIMIT", "1000/min")
# Metrics of the test process and of the workers it starts meet here, as in production.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="petstore-metrics-"))

from petstore.settings import *  # noqa: E402, F403
from petstore.settings import BASE_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: tests create many users
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so that worker processes share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
# Pages render without `collectstatic` having run (the run command collects them), and the web
# servers that tests start serve static files from the apps' folders.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
if NO_SERVICES:
    # The raw Redis clients read this LOCATION: a Redis that does not answer, so they fail open.
    LOCAL_MEMORY = "django.core.cache.backends.locmem.LocMemCache"
    CACHES = {"default": {"BACKEND": LOCAL_MEMORY, "LOCATION": CACHES["default"]["LOCATION"]}}  # noqa: F405
