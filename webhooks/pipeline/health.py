"""Endpoint health: a failure streak per endpoint, disabling and enabling, and the owner's notice.

A success clears an endpoint's streak; a failure starts one; `410 Gone` disables the endpoint at
once, and a streak longer than WEBHOOK_DISABLE_AFTER disables it and tells its owner by e-mail.

`disable` and `enable` are the only ways an endpoint changes state (the recorder, the API's PATCH
and the admin all call them): each changes the row only if it is in the other state, and records
its operational event only then, in the same transaction, so every change gives exactly one
event, however many callers race for it.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from webhooks.events import WebhookEvent
from webhooks.models import Endpoint
from webhooks.pipeline import operational
from webhooks.pipeline.inflight import Result

logger = logging.getLogger(__name__)


def record_results(latest: Iterable[Result], now) -> None:
    """Each endpoint's latest result of a batch (inside the recording's transaction)."""
    recovered, failing = [], {}
    for result in latest:
        endpoint = result.request.delivery.endpoint
        if result.response.succeeded:
            # As the delivery was read: a streak begun since is cleared by the next success read after it.
            if endpoint.failing_since is not None:
                recovered.append(endpoint.id)
        elif result.response.status == 410:
            disable(endpoint, reason=Endpoint.DisabledReason.GONE)
        else:
            failing[endpoint.id] = result
    if recovered:  # only endpoints that were failing as their delivery was read: no no-op UPDATE
        Endpoint.objects.filter(id__in=recovered, failing_since__isnull=False).update(failing_since=None)
    for endpoint_id in sorted(failing):  # rows locked in one order: two recorders cannot deadlock
        Endpoint.objects.filter(id=endpoint_id, failing_since__isnull=True).update(
            failing_since=failing[endpoint_id].attempted_at
        )
    for endpoint in Endpoint.objects.filter(
        id__in=failing, is_active=True, failing_since__lt=now - settings.WEBHOOK_DISABLE_AFTER
    ).select_related("owner"):
        disable(endpoint, reason=Endpoint.DisabledReason.FAILING)


def disable(endpoint: Endpoint, *, reason: Endpoint.DisabledReason) -> bool:
    """Disable an active endpoint and record `endpoint.disabled`; False if it was not active."""
    now = timezone.now()
    if not Endpoint.objects.filter(id=endpoint.id, is_active=True).update(
        is_active=False, disabled_reason=reason, updated_at=now
    ):
        return False
    endpoint.is_active, endpoint.disabled_reason, endpoint.updated_at = False, reason, now
    operational.endpoint_changed(endpoint, type=WebhookEvent.ENDPOINT_DISABLED, owner=endpoint.owner)
    logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason.label)
    if reason == Endpoint.DisabledReason.FAILING and endpoint.owner.email:
        transaction.on_commit(lambda: _tell_owner_disabled(endpoint), robust=True)
    return True


def enable(endpoint: Endpoint) -> bool:
    """Enable a disabled endpoint with a fresh streak and record `endpoint.enabled`; False if it
    was active."""
    now = timezone.now()
    if not Endpoint.objects.filter(id=endpoint.id, is_active=False).update(
        is_active=True, disabled_reason="", failing_since=None, updated_at=now
    ):
        return False
    endpoint.is_active, endpoint.disabled_reason, endpoint.failing_since, endpoint.updated_at = True, "", None, now
    operational.endpoint_changed(endpoint, type=WebhookEvent.ENDPOINT_ENABLED, owner=endpoint.owner)
    logger.info("webhook endpoint %s enabled", endpoint.id)
    return True


def _tell_owner_disabled(endpoint: Endpoint) -> None:
    send_mail(
        subject="Your Petstore webhook endpoint was disabled",
        message=(
            f"Every delivery to {endpoint.url} has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC, "
            "so we stopped sending to it. Fix the receiver, enable the endpoint again, then recover "
            "the failed deliveries (POST /v1/webhooks/{id}/recover) to receive what was missed."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[endpoint.owner.email],
    )
