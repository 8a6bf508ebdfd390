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
                for endpoint_id, secret, previous in cursor.fetchall():
                    cursor.execute(
                        "UPDATE webhooks_endpoint SET secret = %s, previous_secret = %s WHERE id = %s",
                        [reencrypt(secret), reencrypt(previous) if previous else "", endpoint_id],
                    )
        self.stdout.write(f"Re-encrypted the secrets of {len(locked)} endpoints with the first key.")
