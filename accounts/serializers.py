import unicodedata

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts import services
from accounts.models import ApiKey
from core.serializers import StrictTypesMixin

USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length


class PasswordField(serializers.CharField):
    """A password exactly as sent, as Django's own password forms take it: trimmed, it would be
    another password, and its length would disagree with the schema's minLength and maxLength.
    White space alone is blank, as the schema's pattern says (`core.openapi.NOT_BLANK`)."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, style={"input_type": "password"}, **kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not value.strip():
            self.fail("blank")
        return value


class UserSerializer(StrictTypesMixin, serializers.ModelSerializer):
    """A new account: username, e-mail address and password."""

    username = serializers.RegexField(rf"^[\w.@+-]{{1,{USERNAME_MAX_LENGTH}}}$")
    email = serializers.EmailField()
    password = PasswordField(write_only=True, min_length=8, max_length=128)

    class Meta:
        model = User
        fields = ["id", "username", "email", "password", "date_joined"]
        read_only_fields = ["id", "date_joined"]

    def validate_username(self, value: str) -> str:
        # Any case or compatibility form of a taken name (`accounts.usernames`); a race between
        # two registrations is settled by the database (`accounts.services.register_user`).
        if len(unicodedata.normalize("NFKC", value)) > USERNAME_MAX_LENGTH:  # as Django stores it
            raise serializers.ValidationError(f"Ensure this field has no more than {USERNAME_MAX_LENGTH} characters.")
        if services.username_taken(value):
            raise serializers.ValidationError("This username is taken.")
        return value

    def validate(self, attrs: dict) -> dict:
        # Django's validators (AUTH_PASSWORD_VALIDATORS), with the new user's attributes so that
        # a password like the username or the e-mail address is refused too.
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from error
        return attrs


class CredentialsSerializer(StrictTypesMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = PasswordField(max_length=128)


class ApiKeyResponseSerializer(serializers.Serializer):
    api_key = serializers.CharField(help_text="Send as `Authorization: Bearer <api_key>`. Shown only once.")


class ApiKeySerializer(serializers.ModelSerializer):
    last_used_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When a request last used the key, to within about 5 minutes; null if never.",
    )

    class Meta:
        model = ApiKey
        fields = ["id", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields
