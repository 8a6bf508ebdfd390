import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import login_limits
from accounts.models import ApiKey, UsernameClaim
from accounts.usernames import legacy_duplicate_key, username_key
from core.errors import DomainError, TryAgainLater

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


LAST_USED_PRECISION = timedelta(minutes=1)


def user_for_key(raw_key: str, *, before_database: Callable[[], None] | None = None) -> tuple[User, ApiKey] | None:
    """The active key's user and the key, else None. `before_database` is called when the cache
    cannot answer, before the query (it may raise to refuse the lookup)."""
    key_hash = hash_key(raw_key)
    try:
        cached = cache.get(_cache_key(key_hash))
    except Exception:  # noqa: BLE001 - the cache is away: the database answers alone
        logger.warning("API key cache unreachable: keys are read from the database")
        cached = ASK_THE_DATABASE
    if isinstance(cached, tuple):
        return cached
    if before_database is not None:
        before_database()
    api_key = (
        ApiKey.objects.select_related("user")
        .defer("user__password")  # never copied into the cache; a save() of this user leaves it alone
        .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    _note_use(api_key)
    if cached is None:
        try:
            cache.add(_cache_key(key_hash), (api_key.user, api_key), KEY_CACHE_SECONDS)
        except Exception:  # noqa: BLE001 - not kept this time
            logger.warning("API key cache unreachable: keys are read from the database")
    return api_key.user, api_key


def _note_use(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        # An update, not a save: no signal, so the key's cache entry is not forgotten for it.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def api_keys_of(user: User) -> QuerySet[ApiKey]:
    """The user's keys that are not revoked."""
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True)


class KeyCacheUnreachable(TryAgainLater):
    code = "key-cache-unreachable"
    title = "The key cannot be revoked right now"


@transaction.atomic
def revoke_api_key(*, api_key: ApiKey) -> None:
    """Revoke the key in the database and in every process's view of the cache, or not at all:
    if the cache cannot be told (Redis down), `KeyCacheUnreachable` and the key stays as it was,
    since a key revoked only in the database would stay valid wherever the cache still holds it."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    try:
        forget_keys([api_key.key_hash])
    except Exception as error:  # any cache failure: the revocation rolls back
        logger.warning("API key not revoked: the key cache is unreachable")
        raise KeyCacheUnreachable(
            "The key could not be revoked because the key cache is unreachable; nothing changed. Try again shortly.",
            retry_after=5,
        ) from error
    # Once more after the commit, for a lookup that read the key in between (see `forget_keys`);
    # if that fails, the marker set above still keeps every process on the database.
    transaction.on_commit(lambda: forget_keys([api_key.key_hash]), robust=True)


def forget_keys(key_hashes: Iterable[str]) -> None:
    """The keys changed (revoked, deleted, or their user did): no process may use what it cached.
    If the cache cannot be told, this raises, and the change is refused with it: a revocation
    never waits for an entry to expire."""
    cache.set_many(dict.fromkeys(map(_cache_key, key_hashes), ASK_THE_DATABASE), KEY_CACHE_SECONDS)


def _cache_key(key_hash: str) -> str:
    return f"api-key:{key_hash}"


class UsernameTaken(DomainError):
    status = 400
    code = "validation-error"
    title = "Your request is not valid"

    def __init__(self):
        super().__init__("One or more fields are invalid; see errors.")
        self.errors = {"username": ["This username is taken."]}


def username_taken(username: str) -> bool:
    """Whether an account holds this name in any case or compatibility form."""
    return UsernameClaim.objects.filter(key=username_key(username)).exists()


def user_named(username: str) -> User | None:
    """The account holding this name in any case or compatibility form."""
    return User.objects.filter(username_claim__key=username_key(username)).first()


def register_user(*, username: str, email: str, password: str | None) -> User:
    """Create an account (no password: one that cannot log in with one); the caller asks for a key
    with `issue_api_key`. A name another account holds in any case or compatibility form is
    `UsernameTaken`, also when two registrations race (the database's unique claim decides)."""
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as error:
        raise UsernameTaken from error


def claim_username(*, user: User) -> None:
    """Keep the user's claim on its name in step with its username (`UsernameClaim`): raises
    IntegrityError, in the caller's transaction, if another account holds the name."""
    key = username_key(user.username)
    held = UsernameClaim.objects.filter(user_id=user.pk).values_list("key", flat=True).first()
    if held in (key, legacy_duplicate_key(user.username, user.pk)):
        return
    UsernameClaim.objects.update_or_create(user_id=user.pk, defaults={"key": key})


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
