from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from accounts.models import ApiKey
from core.serializers import StrictTypesMixin


class UserSerializer(StrictTypesMixin, serializers.ModelSerializer):
    username = serializers.RegexField(
        r"^[\w.@+-]{1,150}$",
        validators=[UniqueValidator(User.objects.all(), message="This username is taken.")],
    )
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, min_length=8, max_length=128, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["id", "username", "email", "password", "date_joined"]
        read_only_fields = ["id", "date_joined"]

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
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


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
