"""Failed logins, limited per username from one client address and per client address, on Redis
counters.

Every login attempt takes a slot in two counters, one for the username from this client address
(block: an IPv6 /64), one for the address alone (looser), before the password is checked; a
successful login gives its slots back. Once either counter is past its limit, every attempt is
refused with a 429 (the right password too) until the counter's window ends. The username is
counted per address so that anyone guessing a username's password does not lock its owner out
from the owner's own address; the price is that a guesser with many addresses gets
LOGIN_FAILURE_LIMIT_PER_USERNAME guesses from each (the password validators keep the easy
passwords out of reach). Taking the slot first, in one atomic step, keeps parallel guesses
from slipping past the limit while their passwords are being checked.

Why not django-axes (a well-kept library, evaluated for this): it fits form logins, not DRF's
token flow. Its lockout is a Django `PermissionDenied` raised from the `user_login_failed`
signal for `AxesMiddleware` to turn into a page; inside a DRF view, DRF's exception handler
catches it first and answers 403, so our 429 problem document would need a special case in the
handler anyway, with no Retry-After (axes does not expose the time left). Its cache handler
counts with a read then a write (parallel guesses are undercounted) and restarts the cool-off
on each failure; its database handler writes rows on every attempt and brings its own models,
migrations and admin. Its reset-on-success listens to `user_logged_in`, which a token flow
never sends. What we need is the few lines below, on the Redis counters the rate limits use.

If Redis is down, logins are served without limits, as API requests are (`FailOpenMixin`).
"""

import hashlib
import logging

from django.conf import settings

from accounts.throttling import _redis
from accounts.usernames import canonical_username
from core.client_address import address_block
from core.errors import TooManyRequests

logger = logging.getLogger(__name__)

KEY_FORMAT = "petstore:login-attempts:{kind}:{ident}"
# Only a counter still in its window is decremented: DECR on an expired one would create a
# counter of -1 that never expires.
GIVE_BACK = """
for _, key in ipairs(KEYS) do
    if redis.call('exists', key) == 1 then redis.call('decr', key) end
end
"""


class LoginLockedOut(TooManyRequests):
    code = "login-locked-out"
    title = "Too many failed logins"


def _keys(*, username: str, address: str) -> dict[str, tuple[str, int]]:
    # Hashed: a username is the client's text, of any length and content; canonical, so that
    # `Alice` and `alice` (one account) share their counter.
    username_hash = hashlib.sha256(canonical_username(username).encode()).hexdigest()
    block = address_block(address)
    return {
        "username": (
            KEY_FORMAT.format(kind="username-address", ident=f"{username_hash}:{block}"),
            settings.LOGIN_FAILURE_LIMIT_PER_USERNAME,
        ),
        "address": (KEY_FORMAT.format(kind="address", ident=block), settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS),
    }


def take_attempt(*, username: str, address: str) -> None:
    """Count one login attempt for this username and this address; raise `LoginLockedOut` if
    either has used up its failures for the window (the attempt must then not be checked)."""
    keys = _keys(username=username, address=address)
    try:
        pipeline = _redis().pipeline()  # MULTI/EXEC: a counter never outlives its window
        for key, _ in keys.values():
            pipeline.set(key, 0, ex=settings.LOGIN_FAILURE_WINDOW, nx=True).incr(key).ttl(key)
        results = pipeline.execute()
    except Exception:  # noqa: BLE001 - any cache failure
        logger.warning("login limits skipped: the cache is unreachable")
        return
    locked_for = []
    for index, (_, limit) in enumerate(keys.values()):
        count, seconds_left = results[3 * index + 1 : 3 * index + 3]
        if count > limit:
            locked_for.append(seconds_left)
    if locked_for:
        logger.warning("login refused: too many failed attempts for this username or address")
        raise LoginLockedOut(
            "Too many failed logins for this username or from this address; try again later.",
            retry_after=max(locked_for),
        )


def give_back_attempt(*, username: str, address: str) -> None:
    """The attempt succeeded: it was not a failure, so it does not count against either."""
    keys = [key for key, _ in _keys(username=username, address=address).values()]
    try:
        _redis().eval(GIVE_BACK, len(keys), *keys)
    except Exception:  # noqa: BLE001 - any cache failure
        logger.warning("login limits not updated: the cache is unreachable")
