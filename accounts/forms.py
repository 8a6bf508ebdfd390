from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from accounts import login_limits, services
from core.client_address import client_address


class LimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login, limited as the API's (`accounts.login_limits`): past the failures allowed,
    the password is not even checked. `locked_out` holds the refusal, for the page's status."""

    locked_out: login_limits.LoginLockedOut | None = None

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()
        address = client_address(self.request)
        try:
            login_limits.take_attempt(username=username, address=address)
        except login_limits.LoginLockedOut as error:
            self.locked_out = error
            raise ValidationError(error.detail, code=error.code) from error
        cleaned = super().clean()  # a wrong password or an account that may not log in raises here
        login_limits.give_back_attempt(username=username, address=address)
        return cleaned


class OneNamePerPersonMixin:
    """A username another account holds in any case or compatibility form is a form error, as
    `POST /v1/users` answers it (`accounts.usernames`)."""

    def clean_username(self):
        clean = getattr(super(), "clean_username", None)
        username = clean() if clean else self.cleaned_data.get("username")
        if not username:  # refused already (Django's creation form checks the case alone)
            return username
        holder = services.user_named(username)
        if holder is not None and holder.pk != self.instance.pk:
            raise ValidationError("A user with that username already exists.", code="unique")
        return username


class UserCreationForm(OneNamePerPersonMixin, AdminUserCreationForm):
    pass


class UserEditForm(OneNamePerPersonMixin, UserChangeForm):
    pass
