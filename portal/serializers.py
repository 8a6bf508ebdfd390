from django.contrib.auth.models import User
from rest_framework import exceptions, serializers

from accounts.services import user_named
from core.serializers import StrictTypesMixin
from portal.services import DEFAULT_LINK_TTL, MAX_LINK_TTL


class PortalLinkRequestSerializer(StrictTypesMixin, serializers.Serializer):
    ttl_seconds = serializers.IntegerField(
        min_value=1,
        max_value=int(MAX_LINK_TTL.total_seconds()),
        default=int(DEFAULT_LINK_TTL.total_seconds()),
        help_text="How long the link can be opened, in seconds (default 600, at most 86,400).",
    )
    customer = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Staff only: the username of the customer whose portal the link opens.",
    )

    def validate_customer(self, username: str) -> User:
        if not self.context["request"].user.is_staff:
            raise exceptions.PermissionDenied("Only staff may make portal links for another customer.")
        customer = user_named(username)  # `Alice` finds `alice`, as everywhere usernames are read
        if customer is None or not customer.is_active:
            raise exceptions.NotFound("No active customer has this username.")
        return customer


class PortalLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Open it once, before `expires_at`: it starts a portal session.")
    expires_at = serializers.DateTimeField()


class RecoverProgressSerializer(serializers.Serializer):
    """The query of a recovery's progress page, as the recovery's answer wrote it."""

    since = serializers.DateTimeField()
    started = serializers.DateTimeField()
    count = serializers.IntegerField(min_value=0)
