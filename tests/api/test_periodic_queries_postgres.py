"""Every periodic query, and the admin's dashboard, is served by an index, however large the tables.

About 100,000 rows in each of orders, events, deliveries (each in its subject's line, as to an ordering
endpoint) and attempts, spread over a month
as a running store that prunes hourly leaves them (most work long finished, a few hours of rows
past their retention); then every task of the beat schedule
and the dashboard run here, their SQL is captured and each statement's plan is asked of
PostgreSQL: none may read those tables sequentially.
"""

import re
from unittest import mock

import pytest
from celery import current_app
from django.db import connection
from django.test.utils import CaptureQueriesContext

from petstore.admin_site import dashboard_figures
from petstore.metrics import _shared_state_registry

pytestmark = pytest.mark.postgres

ROWS = 100_000
WATCHED = ("orders_order", "events_event", "webhooks_delivery", "webhooks_attempt")

# One statement per table: rows over 30 days; a small share still in flight, as in a live store,
# but none of it due yet (relay, retries, stalled orders), so that the session's worker and beat,
# which share this database, leave the rows alone while the plans are asked for.
LOAD = [
    """INSERT INTO orders_order (id, user_id, status, total, currency, payment_method, payment_token,
           payment_status, charge_id, stock_committed_at, completed_at, steps_left, created_at, updated_at)
       SELECT gen_random_uuid(), %(user)s,
              CASE WHEN n %% 1000 = 0 THEN 'placed' WHEN n %% 50 = 0 THEN 'cancelled' ELSE 'approved' END,
              10, 'USD', 'card', '', CASE WHEN n %% 1000 = 0 THEN 'pending' ELSE 'succeeded' END, '',
              now(), now(), n %% 1000 = 0,
              CASE WHEN n %% 1000 = 0 THEN now() ELSE now() - n * interval '26 seconds' END,
              CASE WHEN n %% 1000 = 0 THEN now() ELSE now() - n * interval '26 seconds' END
       FROM generate_series(1, %(rows)s) AS n""",
    """INSERT INTO events_event (id, type, owner_id, subject, sequence, data, created_at, dispatched_at, relay_at,
           relay_attempts, bus_publish_at, traceparent)
       SELECT gen_random_uuid(), 'order.created', %(user)s, 'order/' || gen_random_uuid(), 1, '{}',
              now() - n * interval '26 seconds', CASE WHEN n %% 1000 = 0 THEN NULL ELSE now() END,
              now() + interval '1 hour', 0, CASE WHEN n %% 1000 = 1 THEN now() + interval '1 hour' END, ''
       FROM generate_series(1, %(rows)s) AS n""",
    """INSERT INTO webhooks_delivery (id, endpoint_id, event_id, status, subject, sequence, attempt_count,
           scheduled_attempts, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), %(endpoint)s, e.id,
              CASE WHEN row_number() OVER () %% 1000 = 0 THEN 'pending'
                   WHEN row_number() OVER () %% 30 = 0 THEN 'failed' ELSE 'succeeded' END,
              e.subject, e.sequence, 1, 1,
              CASE WHEN row_number() OVER () %% 1000 = 0 THEN now() + interval '1 hour' END,
              e.created_at, e.created_at
       FROM events_event e
       ON CONFLICT DO NOTHING""",
    """INSERT INTO webhooks_attempt (delivery_id, attempted_at, response_status, duration_ms, response_body, error)
       SELECT d.id, d.created_at, 200, 5, '', '' FROM webhooks_delivery d""",
]


@pytest.fixture
def large_store(transactional_db, customer):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)")
    from webhooks.services import create_endpoint

    endpoint = create_endpoint(owner=customer.user, url="http://127.0.0.1:9/hook", event_types=["*"])
    try:
        with connection.cursor() as cursor:
            for statement in LOAD:
                cursor.execute(statement, {"user": customer.user.id, "endpoint": endpoint.id, "rows": ROWS})
            cursor.execute("ANALYZE")
        yield
    finally:  # the rows must not outlive the test (the flush after it is far quicker on empty tables)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE webhooks_attempt, webhooks_delivery, events_event, orders_order CASCADE")


def sequential_scans(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return [table for table in re.findall(r"Seq Scan on (\w+)", plan) if table in WATCHED]


def test_no_periodic_query_reads_a_large_table_sequentially(large_store, settings):
    settings.EVENT_BUS_URL = "amqp://guest:guest@127.0.0.1:9//"  # with a bus: its relay and backlog too
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} | {"events.relay_unpublished_events"}
    current_app.loader.import_default_modules()  # every app's tasks, as a worker finds them at start
    with (
        CaptureQueriesContext(connection) as captured,
        mock.patch("celery.app.task.Task.apply_async"),  # what they queue is not the point here
        mock.patch("webhooks.pipeline.handoff.send"),  # nor what the webhook sweep hands to the queue
        mock.patch("events.bus.rabbitmq.publish_batch", return_value=[]),  # nor what the bus does
    ):
        for task in sorted(tasks):
            current_app.tasks[task]()
        dashboard_figures()
        list(_shared_state_registry().collect())

    statements = [
        query["sql"] for query in captured.captured_queries if query["sql"].startswith(("SELECT", "UPDATE", "DELETE"))
    ]
    assert len(statements) > 10
    assert any('"bus_publish_at" <=' in sql for sql in statements), "the bus relay's claim was checked"
    scans = {shape(sql): tables for sql in statements if (tables := sequential_scans(sql))}
    assert scans == {}, "\n".join(f"{tables}: {sql[:400]}" for sql, tables in scans.items())


def shape(sql: str) -> str:
    """The statement without its values, so that each kind of query is reported once."""
    return re.sub(r"'[^']*'(::\w+)?|\b\d+\b", "?", re.sub(r"IN \([^)]*\)", "IN (…)", sql))
