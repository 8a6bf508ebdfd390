import hashlib
import logging
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction

from accounts import login_limits
from accounts.models import ApiKey
from core.errors import DomainError

KEY_PREFIX = "pk_"
logger = logging.getLogger(__name__)


def hash_key(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class TooManyApiKeys(DomainError):
    code = "too-many-api-keys"
    title = "Too many API keys"


@transaction.atomic
def issue_api_key(*, user: User, name: str = "") -> str:
    """Create a key for `user` and return it in clear: the only time it is ever seen.

    A user holds at most MAX_API_KEYS_PER_USER keys that are not revoked (`TooManyApiKeys`).
    """
    # concurrent requests count in turn; NO KEY: orders and events that reference the user do not wait
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= settings.MAX_API_KEYS_PER_USER:
        raise TooManyApiKeys(
            f"This account already has {settings.MAX_API_KEYS_PER_USER} API keys, the most it may hold; "
            "have one revoked before asking for another."
        )
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    ApiKey.objects.create(user=user, name=name, prefix=raw_key[:10], key_hash=hash_key(raw_key))
    return raw_key


# A key's user is kept in the shared cache, so that a request costs no query for it. Any change to
# a key or its user puts a marker there instead (`forget_keys`): lookups then ask the database
# until it expires, and a lookup that read the database before the change cannot cache its stale
# answer over the marker (it only `add`s). Revocation is immediate in every process.
KEY_CACHE_SECONDS = 300
ASK_THE_DATABASE = "ask-the-database"


def user_for_key(raw_key: str) -> tuple[User, ApiKey] | None:
    key_hash = hash_key(raw_key)
    try:
        cached = cache.get(_cache_key(key_hash))
    except Exception:  # noqa: BLE001 - the cache is away: the database answers alone
        logger.warning("API key cache unreachable: keys are read from the database")
        cached = ASK_THE_DATABASE
    if isinstance(cached, tuple):
        return cached
    api_key = (
        ApiKey.objects.select_related("user")
        .defer("user__password")  # never copied into the cache; a save() of this user leaves it alone
        .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    if cached is None:
        try:
            cache.add(_cache_key(key_hash), (api_key.user, api_key), KEY_CACHE_SECONDS)
        except Exception:  # noqa: BLE001 - not kept this time
            logger.warning("API key cache unreachable: keys are read from the database")
    return api_key.user, api_key


def forget_keys(key_hashes: Iterable[str]) -> None:
    """The keys changed (revoked, deleted, or their user did): no process may use what it cached.
    If the cache cannot be told, this raises, and the change is refused with it: a revocation
    never waits for an entry to expire."""
    cache.set_many(dict.fromkeys(map(_cache_key, key_hashes), ASK_THE_DATABASE), KEY_CACHE_SECONDS)


def _cache_key(key_hash: str) -> str:
    return f"api-key:{key_hash}"


@transaction.atomic
def register_user(*, username: str, email: str, password: str) -> User:
    """Create a customer account; the caller asks for a key with `issue_api_key`."""
    return User.objects.create_user(username=username, email=email, password=password)


def key_for_credentials(*, username: str, password: str, client_address: str) -> str | None:
    """A new key for the right username and password, else None. Failed attempts are limited per
    username and per client address (`login_limits`): beyond them, `LoginLockedOut`, whatever
    the password."""
    login_limits.take_attempt(username=username, address=client_address)
    user = authenticate(username=username, password=password)
    if user is None:
        return None
    login_limits.give_back_attempt(username=username, address=client_address)
    return issue_api_key(user=user, name="auth/tokens")
