"""Endpoint health: a failure streak per endpoint, auto-disable, and the owner's notice.

A success clears an endpoint's streak; a failure starts one; `410 Gone` disables the endpoint at
once, and a streak longer than WEBHOOK_DISABLE_AFTER disables it and tells its owner by e-mail.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from webhooks.models import Endpoint
from webhooks.sender import Result

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


def disable(endpoint: Endpoint, *, reason: Endpoint.DisabledReason) -> None:
    Endpoint.objects.filter(id=endpoint.id).update(is_active=False, disabled_reason=reason, updated_at=timezone.now())
    logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason.label)
    if reason == Endpoint.DisabledReason.FAILING and endpoint.owner.email:
        transaction.on_commit(lambda: _tell_owner_disabled(endpoint), robust=True)


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
