import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.db import transaction

from accounts import login_limits
from accounts.models import ApiKey
from core.errors import DomainError

KEY_PREFIX = "pk_"


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


def user_for_key(raw_key: str) -> tuple[User, ApiKey] | None:
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_key(raw_key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    return (api_key.user, api_key) if api_key else None


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
