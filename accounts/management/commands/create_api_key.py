from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from accounts.services import TooManyApiKeys, issue_api_key


class Command(BaseCommand):
    help = "Print a new API key for USERNAME on the last line of stdout."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user if missing.")
        parser.add_argument("--staff", action="store_true", help="Make the user staff.")

    def handle(self, username, create_user, staff, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}; pass --create-user to create it.")
            user = User.objects.create_user(username=username, email=f"{username}@example.com")
            self.stdout.write(f"Created user {username}.")
        if staff and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        try:
            self.stdout.write(issue_api_key(user=user, name="create_api_key"))
        except TooManyApiKeys as error:
            raise CommandError(error.detail) from error
