from django.conf import settings
from django.db import models
from uuid6 import uuid7


class ApiKey(models.Model):
    """A bearer key. Only its SHA-256 is stored: a database dump reveals no usable key."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Written when a lookup reads the key from the database, at most once a minute: while the
    # cache holds the key (up to `accounts.services.KEY_CACHE_SECONDS`) uses are not written.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    def still_grants(self, *, staff: bool) -> bool:
        """Whether the key still gives what it gave when it was checked, read from the database
        (never the cache): not revoked, its user active, and still staff if it was (an open event
        stream asks this as it goes)."""
        is_staff = (
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True, user__is_active=True)
            .values_list("user__is_staff", flat=True)
            .first()
        )
        return is_staff is not None and (is_staff or not staff)


class UsernameClaim(models.Model):
    """Each user's username in canonical form (`accounts.usernames`, hashed), unique: the
    database's guarantee that `Alice` and `alice` are never two accounts, even when two
    registrations race. Kept by `accounts.receivers` whenever a user is saved."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="username_claim"
    )
    key = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.key[:12]}…"
