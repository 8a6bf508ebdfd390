from django.conf import settings
from django.db import models
from uuid6 import uuid7


class PortalLink(models.Model):
    """A single-use link into one customer's portal, and the portal session it opened.

    The URL and the session cookie carry this row's id, signed (`portal.links`); the row says
    whether the link was opened already, until when it may be, and until when its session lasts.
    The key that made it (the customer's own, or staff's for a customer) answers on every portal
    request whether the session still holds (`accounts.models.ApiKey.still_grants`)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_links")
    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="portal_links")
    made_by_staff = models.BooleanField(default=False, help_text="Made with a staff key: it holds while staff holds.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="The link can be opened until then.")
    opened_at = models.DateTimeField(null=True, blank=True, help_text="Opened (once only) at.")
    session_expires_at = models.DateTimeField(null=True, blank=True, help_text="Its portal session ends then.")

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="portal_link_expires_idx")]  # the hourly pruning

    def __str__(self) -> str:
        return f"portal link {self.id} for {self.customer_id}"

    @property
    def user_id(self) -> int:
        """The customer: the API's per-user rate limits count portal requests with the customer's."""
        return self.customer_id
