"""Per-subject ordering: an endpoint with `ordering: per_subject` receives one subject's events one
at a time, in `sequence` order.

A delivery to such an endpoint carries its event's subject and sequence, and waits (is *held*)
while its subject has an earlier pending delivery to the same endpoint, or an earlier event not
yet handed to its consumers (whose delivery may not exist yet). Held deliveries keep their due
time; the due sweep leaves them out, and the claim refuses them. When a delivery settles
(succeeded, or finally failed), the next one in its line is queued at once (`lifecycle.queue_now`),
so it inherits nothing of the earlier one's backoff; if that hand-off is lost, the due sweep finds
it. This module only reads: who waits, who goes next. Nothing here runs for deliveries of
endpoints without ordering (their `sequence` is empty).
"""

import operator
from collections.abc import Iterable, Sequence
from functools import reduce

from django.db.models import Q
from django.utils import timezone

from events.models import Event
from webhooks.models import Delivery, DeliveryStatus

Line = tuple  # (endpoint id, subject)


def held(deliveries: Sequence[Delivery]) -> set:
    """The ids of the ordered deliveries among these that must wait for an earlier one: one
    pending in the database, one among these, or an earlier event of the subject not yet
    dispatched. Two queries, for ordered deliveries only."""
    ordered = [delivery for delivery in deliveries if delivery.sequence is not None]
    if not ordered:
        return set()
    first: dict[Line, int] = {}  # the lowest sequence pending in each line
    for delivery in ordered:
        line = (delivery.endpoint_id, delivery.subject)
        first[line] = min(first.get(line, delivery.sequence), delivery.sequence)
    last = {}
    for delivery in ordered:
        last[delivery.subject] = max(last.get(delivery.subject, 0), delivery.sequence)
    pending = Delivery.objects.filter(
        _any(
            Q(endpoint_id=endpoint_id, subject=subject, sequence__lt=sequence)
            for (endpoint_id, subject), sequence in first.items()
        ),
        status=DeliveryStatus.PENDING,
    ).values_list("endpoint_id", "subject", "sequence")
    for endpoint_id, subject, sequence in pending:
        first[(endpoint_id, subject)] = min(first[(endpoint_id, subject)], sequence)
    undispatched: dict[str, int] = {}
    for subject, sequence in Event.objects.filter(
        _any(Q(subject=subject, sequence__lt=sequence) for subject, sequence in last.items()),
        dispatched_at__isnull=True,
    ).values_list("subject", "sequence"):
        undispatched[subject] = min(undispatched.get(subject, sequence), sequence)
    return {
        delivery.id
        for delivery in ordered
        if delivery.sequence > first[(delivery.endpoint_id, delivery.subject)]
        or delivery.sequence > undispatched.get(delivery.subject, delivery.sequence)
    }


def next_in_line(settled: Iterable[Delivery]) -> list:
    """The ids of the deliveries that go next now that these settled: the next pending delivery,
    not claimed, of each of their lines (the lowest sequence). One query, for ordered ones only."""
    lines = {(delivery.endpoint_id, delivery.subject) for delivery in settled if delivery.sequence is not None}
    if not lines:
        return []
    now = timezone.now()
    waiting = (
        Delivery.objects.filter(
            _any(Q(endpoint_id=endpoint_id, subject=subject) for endpoint_id, subject in lines),
            status=DeliveryStatus.PENDING,
            sequence__isnull=False,
        )
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .order_by("sequence")
        .values_list("id", "endpoint_id", "subject")
    )
    next_ones = {}
    for delivery_id, endpoint_id, subject in waiting:
        next_ones.setdefault((endpoint_id, subject), delivery_id)
    return list(next_ones.values())


def _any(conditions: Iterable[Q]) -> Q:
    return reduce(operator.or_, conditions)
