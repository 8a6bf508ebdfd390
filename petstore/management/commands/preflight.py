from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from petstore.health import broker_answers, database_answers
from webhooks.selectors import endpoints_needing_secret_rotation


class Command(BaseCommand):
    help = "Check that the database and the broker answer; say in one line how to fix what does not."

    def handle(self, **options):
        if not database_answers():
            raise CommandError(
                f"The database ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}) does not answer: "
                "start it, or set DATABASE_URL (see docs/configuration.md)."
            )
        if not broker_answers():
            raise CommandError(
                f"The broker at {settings.CELERY_BROKER_URL} does not answer: start Redis with "
                "`redis-server --daemonize yes`, or set CELERY_BROKER_URL to a broker that runs."
            )
        self.stdout.write("Database and broker answer.")
        self._report_unreadable_secrets()

    def _report_unreadable_secrets(self) -> None:
        """A warning, not a failure: payments and every other endpoint work without them."""
        try:
            endpoints = endpoints_needing_secret_rotation()
        except DatabaseError:  # not migrated yet: no endpoint either
            return
        if endpoints:
            listed = ", ".join(f"{endpoint.id} ({endpoint.owner.username})" for endpoint in endpoints[:20])
            more = f" and {len(endpoints) - 20} more" if len(endpoints) > 20 else ""
            self.stderr.write(
                f"{len(endpoints)} webhook endpoint(s) have signing secrets that FIELD_ENCRYPTION_KEYS cannot "
                f"decrypt (was SECRET_KEY changed?): {listed}{more}. Their deliveries fail until the old key is "
                "put back after the new one in FIELD_ENCRYPTION_KEYS, or their secrets are rotated."
            )
