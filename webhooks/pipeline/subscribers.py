"""Who is subscribed, kept in each process: the active endpoints of each owner, and the staff
endpoints that take every customer's events, read once and reused by every fan-out until an
endpoint changes anywhere.

Every write to an endpoint (a save, a delete, a queryset update: `webhooks.models.EndpointQuerySet`)
and every change to a user (staff status, deactivation) gives the shared cache a new token (`changed`): one at
once, another when its transaction commits. A fan-out reads the token (one Redis round trip) and
starts afresh when it moved; the second token covers a reader that reloaded between the first
and the commit. If the cache cannot be reached, fan-outs read the database; whatever a lost token
leaves behind is forgotten after MAX_AGE.
"""

import logging
import threading
import time
import uuid
from collections.abc import Collection

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q

from webhooks import filters
from webhooks.models import Endpoint, validate_event_types

logger = logging.getLogger(__name__)

TOKEN = "webhooks:subscriptions"
MAX_AGE = 30  # seconds
MAX_OWNERS = 10_000  # owners kept before the cache starts afresh


class _Kept:
    """What one process keeps for one token."""

    def __init__(self, token: str | None):
        self.token = token
        self.loaded_at = time.monotonic()
        self.every_customer: list[Endpoint] | None = None
        self.by_owner: dict[int, list[Endpoint]] = {}

    def serves(self, token: str | None) -> bool:
        return (
            token is not None
            and token == self.token
            and time.monotonic() - self.loaded_at < MAX_AGE
            and len(self.by_owner) < MAX_OWNERS
        )


_lock = threading.Lock()
_kept = _Kept(None)


def endpoints_for(owner_ids: Collection[int]) -> list[Endpoint]:
    """The active endpoints of these owners and the staff endpoints that take every customer's
    events (`takes_every_customer` set on each); the database is asked only for what is not kept."""
    global _kept
    token = _current_token()
    with _lock:
        if not _kept.serves(token):
            _kept = _Kept(token)  # a token of None (no cache) serves this call alone
        kept = _kept
        missing = [owner_id for owner_id in owner_ids if owner_id not in kept.by_owner]
        load_every_customer = kept.every_customer is None
    if missing or load_every_customer:
        loaded = _load(missing, every_customer=load_every_customer)
        with _lock:
            for owner_id in missing:
                kept.by_owner[owner_id] = [e for e in loaded if e.owner_id == owner_id and not e.takes_every_customer]
            if load_every_customer:
                kept.every_customer = [endpoint for endpoint in loaded if endpoint.takes_every_customer]
    with _lock:
        return [*kept.every_customer, *(endpoint for owner_id in owner_ids for endpoint in kept.by_owner[owner_id])]


def changed() -> None:
    """An endpoint or a user changed: every process reads subscriptions afresh, now and after the
    commit."""
    _new_token()
    transaction.on_commit(_new_token)


def _current_token() -> str | None:
    """The shared token; None when the cache cannot be reached."""
    try:
        if (token := cache.get(TOKEN)) is None:  # never set, or the cache restarted
            cache.add(TOKEN, uuid.uuid4().hex, timeout=None)
            token = cache.get(TOKEN)
        return token
    except Exception:  # noqa: BLE001 - the cache is away: the database answers alone
        logger.warning("subscription cache unreachable: endpoints are read from the database")
        return None


def _new_token() -> None:
    try:
        cache.set(TOKEN, uuid.uuid4().hex, timeout=None)
    except Exception:  # noqa: BLE001 - other processes forget what they keep within MAX_AGE
        logger.warning("subscription cache unreachable: other processes may use old subscriptions for %d s", MAX_AGE)


def _load(owner_ids: Collection[int], *, every_customer: bool) -> list[Endpoint]:
    """One query: the owners' active endpoints, and (if asked) the staff endpoints for everyone:
    only while their owner is still active staff (deactivation or loss of staff ends it)."""
    takes_every_customer = Q(all_customers=True, owner__is_staff=True, owner__is_active=True)
    wanted = Q(owner_id__in=owner_ids)
    if every_customer:
        wanted |= takes_every_customer
    endpoints = Endpoint.objects.filter(wanted, is_active=True).annotate(
        takes_every_customer=ExpressionWrapper(takes_every_customer, output_field=BooleanField())
    )
    return [endpoint for endpoint in endpoints if _subscribes_sanely(endpoint) and _filter_compiles(endpoint)]


def _subscribes_sanely(endpoint: Endpoint) -> bool:
    """Event types stored behind the validation's back (a queryset update, a migration) leave that
    endpoint out, said once per load, rather than fail every fan-out and the changes it is part of."""
    try:
        validate_event_types(endpoint.event_types)
    except ValidationError:
        logger.warning("endpoint %s left out of fan-outs: its event types are not valid, fix them", endpoint.id)
        return False
    return True


def _filter_compiles(endpoint: Endpoint) -> bool:
    """Each endpoint is kept with its filter compiled once (`accepts`: None for no filter), so a
    fan-out asks no query and parses nothing per event. A filter stored behind the validation's
    back leaves the endpoint out, as event types do: it receives nothing rather than everything."""
    try:
        endpoint.accepts = filters.compile(endpoint.filter)
    except filters.FilterError:
        logger.warning("endpoint %s left out of fan-outs: its filter is not valid, fix it", endpoint.id)
        return False
    return True
