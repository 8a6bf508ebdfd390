"""Webhook endpoints (what the API and the admin create and change), and sending deliveries
again (the API's retry and recover, the admin's retry action and `replay_webhooks` all resend
through `resend_deliveries`).

A delivery's life is the pipeline's (`webhooks.pipeline`): `fanout` creates it, `sweep` hands it
to the queue, `sending` claims, signs and sends it, `recording` logs each attempt and schedules
the next, and `health` keeps each endpoint's failure streak.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import DomainError
from core.pruning import delete_in_batches
from events.models import Event
from events.outbox.recording import record
from events.subjects import subject
from webhooks import filters
from webhooks.events import WebhookEvent
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint
from webhooks.pipeline import health, lifecycle, signing

logger = logging.getLogger(__name__)


# --- Endpoints --------------------------------------------------------------------------


class TooManyEndpoints(DomainError):
    code = "too-many-endpoints"
    title = "Too many webhook endpoints"


class InvalidFilter(DomainError):
    """A filter that names an unknown operator or path, or is too deep or too large: `errors`
    says where (`filter.data.order.totl`), as the API's other validation errors do."""

    status = 400
    code = "validation-error"
    title = "Your request is not valid"

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("One or more fields are invalid; see errors.")
        self.errors = errors


def filter_errors(*, filter: dict | None, event_types: list[str]) -> dict[str, list[str]]:
    """What is wrong with a filter for an endpoint subscribed to `event_types` (empty: nothing),
    its paths checked against those types' envelopes in the event catalog. For the API, the admin
    and the portal alike."""
    if filter is None:
        return {}
    from events.catalog import (
        schemas as catalog,  # built from every app's event types: importable once the apps are ready
    )

    probe = Endpoint(event_types=event_types)
    envelopes = {
        entry["type"]: _envelope_schema(entry["schema"])
        for entry in catalog.event_types()
        if probe.subscribes_to(entry["type"])
    }
    return filters.validate(filter, schemas=envelopes)


def check_filter(*, filter: dict | None, event_types: list[str]) -> None:
    """Raise InvalidFilter unless the filter suits an endpoint subscribed to `event_types`."""
    if errors := filter_errors(filter=filter, event_types=event_types):
        raise InvalidFilter(errors)


def _envelope_schema(data_schema: dict) -> dict:
    """The envelope (CONTRACT §5) around a type's `data` schema, whose `$defs` it keeps at its root."""
    text = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "id": text,
            "type": text,
            "timestamp": text,
            "subject": text,
            "sequence": {"type": "integer"},
            "data": {key: value for key, value in data_schema.items() if key != "$defs"},
        },
        "$defs": data_schema.get("$defs", {}),
    }


def filter_matches(*, endpoint: Endpoint, envelope: dict) -> bool:
    """Whether the endpoint's filter lets this envelope through (no filter: it does). A filter
    stored behind the validation's back lets nothing through, as in the fan-out."""
    try:
        return filters.matches(endpoint.filter, envelope)
    except filters.FilterError:
        return False


@transaction.atomic
def create_endpoint(
    *,
    owner: User,
    url: str,
    event_types: list[str],
    description: str = "",
    all_customers: bool = False,
    is_active: bool = True,
    ordering: str = Endpoint.Ordering.NONE,
    rate_limit: int | None = None,
    filter: dict | None = None,
) -> Endpoint:
    """Subscribe an endpoint (created disabled if not `is_active`, as if its owner had disabled
    it). An owner has at most MAX_WEBHOOK_ENDPOINTS_PER_USER, active or not (`TooManyEndpoints`):
    each one multiplies every event of theirs into another delivery. Its filter must suit its
    event types (`InvalidFilter`)."""
    check_filter(filter=filter, event_types=event_types)
    # concurrent requests count in turn; NO KEY: orders and events that reference the user do not wait
    User.objects.select_for_update(no_key=True).filter(pk=owner.pk).first()
    if Endpoint.objects.filter(owner=owner).count() >= settings.MAX_WEBHOOK_ENDPOINTS_PER_USER:
        raise TooManyEndpoints(
            f"You have {settings.MAX_WEBHOOK_ENDPOINTS_PER_USER} webhook endpoints, the most an account may have; "
            "delete one, or subscribe an existing one to more event types."
        )
    return Endpoint.objects.create(
        owner=owner,
        url=url,
        event_types=event_types,
        description=description,
        all_customers=all_customers,
        is_active=is_active,
        ordering=ordering,
        rate_limit=rate_limit,
        filter=filter,
        disabled_reason="" if is_active else Endpoint.DisabledReason.MANUAL,
        secret=signing.new_secret(),
    )


@transaction.atomic
def update_endpoint(*, endpoint: Endpoint, **changes) -> Endpoint:
    """Change an endpoint's fields; `is_active` goes through `health.enable`/`health.disable`, so a
    real change of state gives its operational event and setting it as it was gives none. A new
    filter, or new event types under the filter, must suit each other (`InvalidFilter`)."""
    if {"filter", "event_types"} & changes.keys():
        check_filter(
            filter=changes.get("filter", endpoint.filter), event_types=changes.get("event_types", endpoint.event_types)
        )
    active = changes.pop("is_active", None)
    if changes:
        for field, value in changes.items():
            setattr(endpoint, field, value)
        endpoint.save(update_fields=[*changes, "updated_at"])
    if active is True:
        health.enable(endpoint)
    elif active is False:
        health.disable(endpoint, reason=Endpoint.DisabledReason.MANUAL)
    return endpoint


def set_endpoint_active(*, endpoint: Endpoint, active: bool) -> Endpoint:
    return update_endpoint(endpoint=endpoint, is_active=active)


@transaction.atomic
def rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    """A new secret signs from now on; the old one signs alongside it for WEBHOOK_SECRET_OVERLAP
    (unless it can no longer be decrypted: then the new one signs alone)."""
    if endpoint.needs_secret_rotation:
        endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
    else:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + settings.WEBHOOK_SECRET_OVERLAP
    endpoint.secret = signing.new_secret()
    endpoint.save()
    return endpoint


def forget_expired_secrets() -> int:
    """Previous secrets whose overlap has ended are deleted, not kept."""
    return Endpoint.objects.filter(previous_secret_expires_at__lt=timezone.now()).update(
        previous_secret="", previous_secret_expires_at=None
    )


@transaction.atomic
def send_test_event(*, endpoint: Endpoint) -> Delivery:
    """A `webhook.test` event for this endpoint alone."""
    event = record(
        type=WebhookEvent.TEST,
        subject=subject("endpoint", endpoint.id),
        owner=endpoint.owner,
        data={"endpoint_id": str(endpoint.id), "message": "A test event from Petstore Events."},
    )
    (delivery,) = lifecycle.create([Delivery(endpoint=endpoint, event=event)])
    return delivery


# --- Sending again -----------------------------------------------------------------------


def resend_deliveries(deliveries: QuerySet[Delivery]) -> int:
    """Send these finished deliveries again through the normal path, with a fresh retry schedule;
    pending ones are left as they are. Returns how many were queued.

    On an endpoint with per-subject ordering a resent delivery keeps its place in its subject's
    line: it waits only for earlier pending deliveries of the subject, and later pending ones wait
    for it to settle. The lowest pending one of a line never waits, so a line always moves."""
    with transaction.atomic():
        ids = list(deliveries.exclude(status=DeliveryStatus.PENDING).values_list("id", flat=True))
        lifecycle.restart(ids)
    return len(ids)


def resend_failed_since(*, endpoint: Endpoint, since: datetime) -> int:
    """Resend every failed delivery of `endpoint` created since `since` (the API's recover)."""
    return resend_deliveries(endpoint.deliveries.filter(status=DeliveryStatus.FAILED, created_at__gte=since))


# --- Retention ---------------------------------------------------------------------------


def prune_attempts() -> int:
    """Attempts older than WEBHOOK_ATTEMPT_RETENTION."""
    return delete_in_batches(
        Attempt.objects.filter(attempted_at__lt=timezone.now() - settings.WEBHOOK_ATTEMPT_RETENTION)
    )


def prune_test_events() -> int:
    """`webhook.test` events created before WEBHOOK_DELIVERY_RETENTION, with their deliveries and
    attempts whatever their outcome: a test is not replayed, and anyone can send many."""
    cutoff = timezone.now() - settings.WEBHOOK_DELIVERY_RETENTION
    tests = Event.objects.filter(type=WebhookEvent.TEST, created_at__lt=cutoff, bus_publish_at__isnull=True)
    return delete_in_batches(tests)


def prune_succeeded_deliveries() -> int:
    """Succeeded deliveries last changed before WEBHOOK_DELIVERY_RETENTION, with their attempts.
    Failed ones stay: staff and owners replay them."""
    cutoff = timezone.now() - settings.WEBHOOK_DELIVERY_RETENTION
    return delete_in_batches(Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED, updated_at__lt=cutoff))
