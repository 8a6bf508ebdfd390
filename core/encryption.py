"""Secrets stored encrypted: a model field that encrypts with Fernet (AES-128-CBC + HMAC-SHA256,
from the `cryptography` package) and keys that can be rotated.

FIELD_ENCRYPTION_KEYS lists the keys, comma-separated: the first encrypts, every one decrypts
(MultiFernet), so a new key is put first and the old ones kept until `manage.py
reencrypt_secrets` has rewritten every value with the new one. Each key is any string; a Fernet
key is derived from it. With no keys set, one is derived from SECRET_KEY.

A stored value that no key decrypts (SECRET_KEY changed with no keys set, a key dropped too soon)
never makes a row unreadable: it loads as `Unreadable`, and a save writes its token back as it
was, so putting the old key back (after the new one) recovers it.
"""

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"petstore-field-encryption:{secret}".encode()).digest())


@functools.cache
def _keys(configured: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in configured])


def fernet() -> MultiFernet:
    return _keys(tuple(settings.FIELD_ENCRYPTION_KEYS or [settings.SECRET_KEY]))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: was a key removed too soon?"
        ) from error


def reencrypt(token: str) -> str:
    """The same value, encrypted with the first key; `ImproperlyConfigured` if no key decrypts it."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured("A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS.") from error


class Unreadable:
    """A stored value that no key of FIELD_ENCRYPTION_KEYS decrypts, kept as its stored token."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token

    def __eq__(self, other) -> bool:
        return isinstance(other, Unreadable) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return "<unreadable: encrypted with a key that is not in FIELD_ENCRYPTION_KEYS>"


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database, plain in Python (`Unreadable` when no key decrypts
    it). It cannot be filtered on."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except ImproperlyConfigured:
            return Unreadable(value)

    def get_prep_value(self, value):
        if isinstance(value, Unreadable):
            return value.token  # written back as it was stored
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
