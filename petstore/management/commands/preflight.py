from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from petstore.health import broker_answers, database_answers


class Command(BaseCommand):
    help = "Check that the database and the broker answer; say in one line how to fix what does not."

    def handle(self, **options):
        if not database_answers():
            raise CommandError(
                f"The database ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}) does not answer: "
                "start it, or set DATABASE_URL (see the README's configuration table)."
            )
        if not broker_answers():
            raise CommandError(
                f"The broker at {settings.CELERY_BROKER_URL} does not answer: start Redis with "
                "`redis-server --daemonize yes`, or set CELERY_BROKER_URL to a broker that runs."
            )
        self.stdout.write("Database and broker answer.")
