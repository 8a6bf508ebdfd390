import hashlib
import secrets

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.db import transaction

from accounts.models import ApiKey

KEY_PREFIX = "pk_"


def hash_key(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def issue_api_key(*, user: User, name: str = "") -> str:
    """Create a key for `user` and return it in clear: the only time it is ever seen."""
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


def key_for_credentials(*, username: str, password: str) -> str | None:
    user = authenticate(username=username, password=password)
    return issue_api_key(user=user, name="auth/tokens") if user else None
