"""Portal links and the sessions they open.

A link is `/portal/enter/<token>`: the token is the link's id signed with SECRET_KEY (salted for
links), so an altered token is refused before any query. Opening it marks the row opened in one
conditional UPDATE (a second opening, however close, finds it opened) and gives the browser a
cookie holding the id signed again (salted for sessions): a link's token is never a session.
Every portal request reads the row back and asks the key that made the link whether it still
holds, so a revoked key or a deactivated user ends the session at its next request.
"""

from datetime import timedelta

from django.contrib.auth.models import User
from django.core import signing
from django.db.models import F
from django.utils import timezone

from accounts.models import ApiKey
from core.errors import DomainError
from core.pruning import delete_in_batches
from portal.models import PortalLink

LINK_SALT = "portal.link"
SESSION_SALT = "portal.session"
DEFAULT_LINK_TTL = timedelta(minutes=10)
MAX_LINK_TTL = timedelta(days=1)
SESSION_LIFETIME = timedelta(hours=8)


class LinkRefused(DomainError):
    """A link that was used, has expired, was altered or whose key no longer holds: one answer for
    all, so a link tells nobody more than that it does not open."""

    status = 403
    code = "portal-link-refused"
    title = "This portal link does not open"


_REFUSED = "The link was used already, has expired or was altered: ask for a new one."


def make_link(*, customer: User, api_key: ApiKey, ttl: timedelta = DEFAULT_LINK_TTL) -> tuple[str, PortalLink]:
    """A single-use link into `customer`'s portal, made with `api_key` (theirs, or a staff
    user's); returns its token and its row."""
    link = PortalLink.objects.create(
        customer=customer,
        api_key=api_key,
        made_by_staff=api_key.user.is_staff and api_key.user_id != customer.id,
        expires_at=timezone.now() + min(ttl, MAX_LINK_TTL),
    )
    return signing.dumps(str(link.id), salt=LINK_SALT, compress=False), link


def open_link(token: str) -> str:
    """Open a link once: its session's cookie value, or `LinkRefused`."""
    try:
        link_id = signing.loads(token, salt=LINK_SALT)
    except signing.BadSignature:
        raise LinkRefused(_REFUSED) from None
    now = timezone.now()
    opened = PortalLink.objects.filter(id=link_id, opened_at__isnull=True, expires_at__gt=now).update(
        opened_at=now, session_expires_at=now + SESSION_LIFETIME
    )
    if not opened:
        raise LinkRefused(_REFUSED)
    cookie = signing.dumps(str(link_id), salt=SESSION_SALT, compress=False)
    if session_link(cookie) is None:
        raise LinkRefused(_REFUSED)
    return cookie


def session_link(cookie: str) -> PortalLink | None:
    """The link whose session the cookie holds, read from the database, while the session lasts
    and the key that made it still holds (not revoked, its user active, still staff if it made the
    link as staff) and the customer is active; otherwise None."""
    try:
        link_id = signing.loads(cookie, salt=SESSION_SALT)
    except signing.BadSignature:
        return None
    link = (
        PortalLink.objects.select_related("customer", "api_key")
        .filter(id=link_id, session_expires_at__gt=timezone.now(), customer__is_active=True)
        .first()
    )
    return link if link is not None and link.api_key.still_grants(staff=link.made_by_staff) else None


def end_session(link: PortalLink) -> None:
    """Sign out: the session ends now, for every tab that holds its cookie."""
    PortalLink.objects.filter(id=link.id).update(session_expires_at=F("opened_at"))


def prune_links() -> int:
    """Links that can no longer be opened and whose session, if any, is over: a session ends at
    most SESSION_LIFETIME after its link's last moment."""
    return delete_in_batches(PortalLink.objects.filter(expires_at__lt=timezone.now() - SESSION_LIFETIME))
