from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.services import TooManyApiKeys, UsernameTaken, issue_api_key, register_user, user_named


class Command(BaseCommand):
    help = "Print a new API key for USERNAME on the last line of stdout."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user if missing.")
        parser.add_argument("--staff", action="store_true", help="Make the user staff.")

    @transaction.atomic
    def handle(self, username, create_user, staff, **options):
        user = user_named(username)  # `Alice` finds `alice`: one name in any case or compatibility form
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}; pass --create-user to create it.")
            try:
                user = register_user(username=username, email=f"{username}@example.com", password=None)
            except UsernameTaken as error:  # registered meanwhile
                raise CommandError(f"The username {username!r} is taken.") from error
            self.stdout.write(f"Created user {user.username}.")
        if staff and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        try:
            self.stdout.write(issue_api_key(user=user, name="create_api_key"))
        except TooManyApiKeys as error:
            raise CommandError(error.detail) from error
