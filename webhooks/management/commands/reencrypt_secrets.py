from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from core.encryption import reencrypt
from webhooks.models import Endpoint


class Command(BaseCommand):
    help = (
        "Encrypt every stored webhook signing secret again with the first of FIELD_ENCRYPTION_KEYS, "
        "so that the older keys can be dropped."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            locked = list(Endpoint.objects.select_for_update().values_list("id", flat=True))  # no rotation meanwhile
            with connection.cursor() as cursor:  # the stored tokens as they are, not decrypted by the field
                cursor.execute("SELECT id, secret, previous_secret FROM webhooks_endpoint")
                unreadable = []
                for endpoint_id, secret, previous in cursor.fetchall():
                    try:
                        tokens = [reencrypt(secret), reencrypt(previous) if previous else ""]
                    except ImproperlyConfigured:  # left as stored: the old key may yet come back
                        unreadable.append(str(endpoint_id))
                        continue
                    cursor.execute(
                        "UPDATE webhooks_endpoint SET secret = %s, previous_secret = %s WHERE id = %s",
                        [*tokens, endpoint_id],
                    )
        self.stdout.write(f"Re-encrypted the secrets of {len(locked) - len(unreadable)} endpoints with the first key.")
        if unreadable:
            self.stderr.write(
                f"{len(unreadable)} endpoints have secrets no key decrypts, left as they are: {', '.join(unreadable)}"
            )
