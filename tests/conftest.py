import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import CommandError
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient

from accounts.services import issue_api_key
from harness import Processes
from inventory.models import Pet
from inventory.services import create_pet

ROOT = Path(__file__).resolve().parent.parent


def eventually(
    check: Callable[[], object], *, timeout: float = 20, message: str | Callable[[], str] = "condition"
) -> object:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds, saying
    `message` (or what `message()` returns then)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message() if callable(message) else message}")
        time.sleep(0.1)


PASSWORD = "correct horse battery"  # every test customer's


@dataclass
class Customer:
    user: User
    key: str
    client: APIClient


@pytest.fixture
def make_customer(db) -> Callable[..., Customer]:
    count = 0

    def make(*, staff: bool = False, email: str | None = None) -> Customer:
        nonlocal count
        count += 1
        username = f"{'staff' if staff else 'customer'}{count}"
        user = User.objects.create_user(
            username=username,
            email=email or f"{username}@example.com",
            password=PASSWORD,
            is_staff=staff,
        )
        key = issue_api_key(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return Customer(user=user, key=key, client=client)

    return make


@pytest.fixture
def customer(make_customer) -> Customer:
    return make_customer()


@pytest.fixture
def staff(make_customer) -> Customer:
    return make_customer(staff=True)


@pytest.fixture
def receiver():
    """A threaded HTTP server on loopback: one slow handler does not hold up the others."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def pet(db) -> Pet:
    return create_pet(name="Rex", species="dog", price=Decimal("125.50"), stock=5, low_stock_threshold=2)


def order_body(pet: Pet, quantity: int = 1, token: str = "tok_visa") -> dict:
    return {"items": [{"pet_id": str(pet.id), "quantity": quantity}], "payment": {"method": "card", "token": token}}


@pytest.fixture(autouse=True)
def _clean_shared_cache(request):
    """The cache (rate limits, the test gateway's ledger) lives in Redis: start each test empty."""
    if settings.NO_SERVICES:
        cache.clear()  # in memory
    else:
        redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).flushdb()


# --- Real worker processes ------------------------------------------------------------


def pytest_collection_modifyitems(items):
    """A test that starts real processes (through `worker_env`) is a worker test, marked or not:
    `make test` runs those on PostgreSQL, and on SQLite only the ones marked `sqlite_too`.

    The tests marked `slow` run first: with `--maxschedchunk 1` (the Makefile's lanes) pytest-xdist
    deals the tests out to its lanes a few at a time, so each lane starts on long ones and the lanes
    end together, not one lane alone on the longest tests at the end."""
    for item in items:
        if "worker_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def worker_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@dataclass
class Workers:
    mail_dir: Path
    log: Path

    def sent_mail(self) -> str:
        return "".join(path.read_text() for path in self.mail_dir.glob("*.log"))

    def mails_for(self, order_id) -> int:
        return self.sent_mail().count(f"X-Petstore-Order: {order_id}")


@pytest.fixture(scope="session")
def worker_env(django_db_setup, django_db_blocker, tmp_path_factory) -> dict:
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    mail_dir = tmp_path_factory.mktemp("mail")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "OUTBOX_RELAY_AFTER": "1",
    }


class SessionWorkers:
    """One Celery worker (every queue) and one beat on real Redis, shared by the session's tests:
    started when a test first needs them, and stopped while a test runs a stack of its own on
    the same database (the reliability suite), whose orders they must not take part in."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs = env, logs
        self.processes: Processes | None = None
        self.workers: Workers | None = None

    def start(self) -> Workers:
        if self.processes is None:
            redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
            self.processes = Processes(env=self.env, logs=self.logs)
            (worker,) = self.processes.start_workers(loglevel="INFO", concurrency=8)
            self.processes.start_beat(loglevel="INFO")
            self.workers = Workers(mail_dir=Path(self.env["EMAIL_FILE_PATH"]), log=self.processes.log(worker))
        return self.workers

    def stop(self) -> None:
        if self.processes is not None:
            self.processes.stop_all()
            self.processes = None


@pytest.fixture(scope="session")
def worker_processes(worker_env, tmp_path_factory, django_db_blocker):
    session_workers = SessionWorkers(worker_env, tmp_path_factory.mktemp("logs"))
    yield session_workers
    session_workers.stop()
    # A stopped worker's session outlives it for a moment, and the test database is dropped next.
    with django_db_blocker.unblock():
        _until_no_other_session_is_open()


@pytest.fixture
def workers(worker_processes, transactional_db) -> Workers:
    """Real workers for a test whose data they must see: it is committed, not rolled back."""
    started = worker_processes.start()
    for path in started.mail_dir.glob("*"):
        path.unlink()
    return started


def _database_use(request) -> str | None:
    """How the test uses the database, asked for through a fixture or the django_db mark:
    "transactional", "rolled back" or None."""
    mark = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (mark and mark.kwargs.get("transaction")):
        return "transactional"
    if "db" in request.fixturenames or mark:
        return "rolled back"
    return None


@pytest.fixture(autouse=True)
def _workers_idle_before_the_flush(request):
    """A transactional test's tables are truncated after it. The session's worker may still be
    working on rows the test left (orders it placed); drop its queued tasks and let the running
    ones finish first, or the TRUNCATE and the worker deadlock."""
    if _database_use(request) != "transactional" or settings.NO_SERVICES:  # no worker without services
        yield
        return
    request.getfixturevalue("_django_db_helper")  # so that the flush comes after this
    yield
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    if broker.exists("_kombu.binding.orders"):  # a worker has consumed here this session
        broker.delete(*(queue.name for queue in settings.CELERY_TASK_QUEUES))
        _until_no_other_transaction_is_open()


@pytest.fixture(scope="session", autouse=True)
def _flush_tries_again_after_a_deadlock():
    """A beat tick of the session's worker can still start between the wait above and the
    TRUNCATE, and PostgreSQL then ends one of the two as a deadlock: the flush is tried again."""
    from django.core.management.commands import flush

    handle = flush.Command.handle

    def handle_retrying(self, *args, **options):
        for attempt in range(3):
            try:
                return handle(self, *args, **options)
            except CommandError as error:
                if attempt == 2 or "deadlock" not in str(error.__cause__):
                    raise
                time.sleep(0.5)

    flush.Command.handle = handle_retrying
    yield
    flush.Command.handle = handle


def _until_no_other_session_is_open(timeout: float = 5) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for _ in range(int(timeout / 0.1)):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


def _until_no_other_transaction_is_open(timeout: float = 10) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        time.sleep(0.5)  # SQLite waits for its lock; the pause only keeps that wait short
        return
    with connection.cursor() as cursor:
        for _ in range(int(timeout / 0.1)):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture(autouse=True)
def _events_match_the_catalog(request):
    """Every event any test leaves behind must validate against its schema in the catalog."""
    if _database_use(request) is None:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # so that the database outlives this check
    yield
    assert_events_match_the_catalog()


def assert_events_match_the_catalog() -> None:
    from jsonschema import Draft202012Validator

    from events.catalog.schemas import event_types
    from events.models import Event

    validators = {entry["type"]: Draft202012Validator(entry["schema"]) for entry in event_types()}
    for event in Event.objects.all():
        errors = [error.message for error in validators[event.type].iter_errors(event.data)]
        assert not errors, f"{event.type} {event.id} does not match its schema: {errors}"
