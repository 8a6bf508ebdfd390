"""Logging in by one's username in any case or compatibility form: `alice`, `ALICE` and its full-width spelling
open the account `Alice`, as they name no other (`accounts.usernames`). For the API's
`POST /v1/auth/tokens` and the admin's login alike, both going through `authenticate()`."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User

from accounts.services import user_named


class AnyFormOfTheUsernameBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        # The exact name first: an account that shared its name with an older one before names
        # were claimed keeps logging in by it.
        user = User.objects.filter(username=username).first() or user_named(username)
        if user is None:
            User().set_password(password)  # as long as a real check: the answer's time tells nothing
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
