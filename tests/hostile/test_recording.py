"""Recording what hostile receivers answered: each outcome on its own, cleaned and bounded, however
odd the others in its batch. The NUL-byte cases matter on PostgreSQL, which refuses NUL in text."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from tests.hostile import receivers
from tests.sending import send_here
from webhooks import services
from webhooks.models import Attempt, Delivery, DeliveryStatus
from webhooks.pipeline import recording

pytestmark = pytest.mark.django_db

HOSTILE_ANSWERS = {
    "NUL bytes in the body": receivers.body(b"ok\x00\x00" + b"x" * 2000),
    "invalid UTF-8 in the body": receivers.body(b"\xff\xfe\xc3( bad"),
    "huge Retry-After": receivers.retry_after("99999999999999"),
    "Retry-After of 5,000 digits": receivers.retry_after("9" * 5000),
    "Retry-After in the year 9999": receivers.retry_after("Fri, 31 Dec 9999 23:59:59 GMT", status="429 Slow Down"),
    "negative Retry-After": receivers.retry_after("-5"),
    "unreadable Retry-After": receivers.retry_after("soon\x01"),
    "NUL in the status line": receivers.raw(b"HTTP/1.1 2\x00\x00 OK\r\nContent-Length: 0\r\n\r\n"),
    "a 70 kB header": receivers.raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"),
    "closed mid-body": receivers.close_mid_body,
    "a trickle": receivers.trickle_body,
}


def endpoint_answering(owner, hostile, behaviour):
    return services.create_endpoint(owner=owner, url=hostile(behaviour).url(), event_types=["*"])


def test_every_outcome_of_a_batch_is_recorded_once_however_odd_the_others(make_customer, hostile, timeout, settings):
    hostile_owner, healthy_owner = make_customer(), make_customer()
    deliveries = {
        name: services.send_test_event(endpoint=endpoint_answering(hostile_owner.user, hostile, behaviour))
        for name, behaviour in HOSTILE_ANSWERS.items()
    }
    healthy = services.send_test_event(
        endpoint=endpoint_answering(healthy_owner.user, hostile, receivers.body(b"thanks"))
    )

    send_here([healthy.id, *(delivery.id for delivery in deliveries.values())])  # one batch

    healthy.refresh_from_db()
    assert (healthy.status, healthy.attempt_count, healthy.attempts.get().response_body) == ("succeeded", 1, "thanks")
    longest = max(settings.WEBHOOK_RETRY_SCHEDULE)
    for name, delivery in deliveries.items():
        delivery.refresh_from_db()
        (attempt,) = delivery.attempts.all()
        assert delivery.attempt_count == 1, name
        if "in the body" in name:  # a 200, whatever its body
            assert delivery.status == DeliveryStatus.SUCCEEDED, name
        else:
            assert delivery.status == DeliveryStatus.PENDING, name
            assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=longest * 1.1), name
        assert "\x00" not in attempt.response_body and "\x00" not in attempt.error, name
        assert len(attempt.response_body) <= 1024, name
        assert "token" not in attempt.error, name
    assert (
        deliveries["NUL bytes in the body"].attempts.get().response_body == "ok" + "x" * 1020
    )  # the first KiB, less its NULs
    assert deliveries["invalid UTF-8 in the body"].attempts.get().response_body == "\ufffd\ufffd\ufffd( bad"


@pytest.mark.parametrize(
    ("status", "retry_after", "low", "high"),
    [
        ("503 Service Unavailable", "30", 30, 30),
        ("429 Too Many Requests", lambda: receivers.http_date(30), 25, 30),  # a date, read when sent
        ("429 Too Many Requests", "99999999999999", 60, 60),  # never beyond the longest interval
        ("500 Internal Server Error", "30", 0.9, 1.1),  # honoured on 429 and 503 only
        ("503 Service Unavailable", "-5", 0.9, 1.1),  # unreadable: the schedule
        ("503 Service Unavailable", "Mon, 01 Jan 99999 00:00:00 GMT", 0.9, 1.1),
    ],
)
def test_retry_after_is_honoured_per_the_contract(customer, hostile, timeout, settings, status, retry_after, low, high):
    settings.WEBHOOK_RETRY_SCHEDULE = [1, 60]
    retry_after = retry_after() if callable(retry_after) else retry_after
    delivery = services.send_test_event(
        endpoint=endpoint_answering(customer.user, hostile, receivers.retry_after(retry_after, status=status))
    )

    send_here([delivery.id])

    delivery.refresh_from_db()
    waits = (delivery.next_attempt_at - delivery.updated_at).total_seconds()  # both from the recording's clock
    assert low <= waits <= high


def test_a_response_the_database_refuses_costs_only_its_own_body(make_customer, hostile, timeout):
    """Should a response still carry something the database refuses, the batch is written result by
    result: the others keep theirs, and the refused one is recorded without its response body."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL, which refuses NUL in text: run with DATABASE_URL=postgres://…")
    owner = make_customer()
    refused = services.send_test_event(
        endpoint=endpoint_answering(owner.user, hostile, receivers.body(b"NUL \x00 here", status="500 Oops"))
    )
    fine = services.send_test_event(endpoint=endpoint_answering(owner.user, hostile, receivers.body(b"fine")))

    with mock.patch.object(recording, "clean_text", lambda text, limit: text):  # as before cleaning existed
        send_here([refused.id, fine.id])

    assert Attempt.objects.get(delivery=fine).response_body == "fine"
    assert Delivery.objects.get(id=fine.id).status == DeliveryStatus.SUCCEEDED
    attempt = Attempt.objects.get(delivery=refused)
    assert (attempt.response_status, attempt.response_body, attempt.error) == (
        500,
        "",
        "response could not be recorded",
    )
    assert Delivery.objects.get(id=refused.id).attempt_count == 1
