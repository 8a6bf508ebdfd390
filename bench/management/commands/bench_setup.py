"""The benchmarks' data set-up, run between scenarios by `bench/run.py` as
`manage.py bench_setup <step>` (the `bench` app is installed only when BENCH=1).

A management command rather than code for `manage.py shell -c`: each step is an ordinary,
linted function, and it runs in a process of its own, as the shell did, so the bench process
itself never sets Django up (nor holds its connections while it measures).
"""

import json
import uuid

from django.core.management.base import BaseCommand
from django.utils import timezone

from events.models import Event
from webhooks.models import Delivery, Endpoint


def forget_undispatched_events() -> None:
    """Mark every undispatched event dispatched, so that the outbox relay leaves it alone."""
    Event.objects.filter(dispatched_at__isnull=True).update(dispatched_at=timezone.now())


def deactivate_endpoints() -> None:
    Endpoint.objects.update(is_active=False)


def fail_pending_deliveries() -> None:
    """Take the pending deliveries out of the retry sweep."""
    Delivery.objects.filter(status="pending").update(status="failed", next_attempt_at=None)


def copy_first_endpoint(*, count: int, filter: dict | None = None) -> None:
    """`count` more endpoints like the first one, each receiving every customer's events (with
    `filter`, all of them and the first one only those that pass it)."""
    first = Endpoint.objects.first()
    if filter is not None:
        Endpoint.objects.filter(id=first.id).update(filter=filter)
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                owner=first.owner,
                url=first.url,
                event_types=["*"],
                all_customers=True,
                secret=first.secret,
                filter=filter,
            )
            for _ in range(count)
        ]
    )


def due_deliveries(*, url: str, endpoints: int, events: int = 100) -> None:
    """`endpoints` new endpoints at `url`, and a delivery due now for each of them and each of
    `events` order events, in place of every delivery so far."""
    owner = Event.objects.filter(type="order.created").first().owner
    secret = Endpoint.objects.first().secret
    new = [Endpoint(owner=owner, url=url, event_types=["*"], secret=secret) for _ in range(endpoints)]
    Endpoint.objects.bulk_create(new)
    order_events = list(Event.objects.filter(type__startswith="order")[:events])
    Delivery.objects.all().delete()
    Delivery.objects.bulk_create(
        [
            Delivery(endpoint=endpoint, event=event, next_attempt_at=timezone.now())
            for event in order_events
            for endpoint in new
        ],
        batch_size=5000,
    )


def deliveries(
    *, url: str, endpoints: int, subjects: int, events: int, ordering: str, rate_limit: int | None, replace: bool
) -> None:
    """`endpoints` new endpoints at `url` (with that ordering and rate limit) and, for each, a
    delivery due now of every event of `subjects` new subjects with `events` events each."""
    owner = Endpoint.objects.first().owner
    secret = Endpoint.objects.first().secret
    new = [
        Endpoint(owner=owner, url=url, event_types=["*"], secret=secret, ordering=ordering, rate_limit=rate_limit)
        for _ in range(endpoints)
    ]
    Endpoint.objects.bulk_create(new)
    now = timezone.now()
    lines = [
        Event(type="inventory.updated", subject=f"bench/{uuid.uuid4()}", sequence=0, data={}, dispatched_at=now)
        for _ in range(subjects)
    ]
    numbered = [
        Event(type=line.type, subject=line.subject, sequence=sequence, data={}, dispatched_at=now)
        for line in lines
        for sequence in range(1, events + 1)
    ]
    Event.objects.bulk_create(numbered, batch_size=5000)
    if replace:
        Delivery.objects.all().delete()
    ordered = ordering == Endpoint.Ordering.PER_SUBJECT
    Delivery.objects.bulk_create(
        [
            Delivery(
                endpoint=endpoint,
                event=event,
                next_attempt_at=now,
                subject=event.subject if ordered else "",
                sequence=event.sequence if ordered else None,
            )
            for event in numbered
            for endpoint in new
        ],
        batch_size=5000,
    )


class Command(BaseCommand):
    help = "Prepare the benchmarks' data between scenarios (installed with BENCH=1 only)."

    def add_arguments(self, parser):
        steps = parser.add_subparsers(dest="step", required=True)
        steps.add_parser("forget-undispatched-events", help=forget_undispatched_events.__doc__)
        steps.add_parser("deactivate-endpoints", help="Stop every endpoint receiving anything.")
        steps.add_parser("fail-pending-deliveries", help=fail_pending_deliveries.__doc__)
        copy = steps.add_parser("copy-first-endpoint", help=copy_first_endpoint.__doc__)
        copy.add_argument("--count", type=int, required=True)
        copy.add_argument("--filter", type=json.loads, help="a filter (JSON) for every copy and the first")
        due = steps.add_parser("due-deliveries", help=due_deliveries.__doc__)
        due.add_argument("--url", required=True)
        due.add_argument("--endpoints", type=int, required=True)
        lines = steps.add_parser("deliveries", help=deliveries.__doc__)
        lines.add_argument("--url", required=True)
        lines.add_argument("--endpoints", type=int, default=1)
        lines.add_argument("--subjects", type=int, required=True)
        lines.add_argument("--events", type=int, default=1)
        lines.add_argument("--ordering", choices=Endpoint.Ordering.values, default=Endpoint.Ordering.NONE)
        lines.add_argument("--rate-limit", type=int)
        lines.add_argument("--replace", action="store_true", help="delete every delivery so far first")

    def handle(self, *args, step: str, **options):
        if step == "forget-undispatched-events":
            forget_undispatched_events()
        elif step == "deactivate-endpoints":
            deactivate_endpoints()
        elif step == "fail-pending-deliveries":
            fail_pending_deliveries()
        elif step == "copy-first-endpoint":
            copy_first_endpoint(count=options["count"], filter=options["filter"])
        elif step == "due-deliveries":
            due_deliveries(url=options["url"], endpoints=options["endpoints"])
        elif step == "deliveries":
            deliveries(
                **{
                    key: options[key]
                    for key in ("url", "endpoints", "subjects", "events", "ordering", "rate_limit", "replace")
                }
            )
