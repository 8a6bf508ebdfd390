from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import TooManyApiKeys, issue_api_key, user_named
from portal import services

KEY_NAME = "portal_link"


class Command(BaseCommand):
    help = (
        "Print a single-use link into USERNAME's portal on the last line of stdout, as POST /v1/portal/links "
        f"would make it (with the user's key named {KEY_NAME!r}, made once: revoke it to end the sessions)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--ttl", type=int, default=600, help="Seconds the link can be opened (at most 86,400).")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the portal is served.")

    def handle(self, username, ttl, base_url, **options):
        user = user_named(username)
        if user is None or not user.is_active:
            raise CommandError(f"No active user {username!r} (manage.py create_api_key {username} --create-user).")
        if not 1 <= ttl <= services.MAX_LINK_TTL.total_seconds():
            raise CommandError("--ttl is 1 to 86,400 seconds.")
        api_key = ApiKey.objects.filter(user=user, name=KEY_NAME, revoked_at__isnull=True).first()
        if api_key is None:
            try:
                issue_api_key(user=user, name=KEY_NAME)
            except TooManyApiKeys as error:
                raise CommandError(error.detail) from error
            api_key = ApiKey.objects.filter(user=user, name=KEY_NAME, revoked_at__isnull=True).latest("created_at")
        token, link = services.make_link(customer=user, api_key=api_key, ttl=timedelta(seconds=ttl))
        self.stdout.write(f"Opens once, until {link.expires_at:%Y-%m-%d %H:%M:%S} UTC:")
        self.stdout.write(base_url.rstrip("/") + reverse("portal:enter", args=[token]))
