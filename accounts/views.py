from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.authentication import ApiKeyAuthentication
from accounts.serializers import ApiKeyResponseSerializer, ApiKeySerializer, CredentialsSerializer, UserSerializer
from core.client_address import client_address


class UserRegistrationView(APIView):
    # Anonymous by design: an Authorization header is not read, so a stale key is no error here.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="register_user",
        request=UserSerializer,
        responses={201: UserSerializer},
        tags=["accounts"],
        auth=[],
    )
    def post(self, request):
        serializer = UserSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.register_user(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(generics.ListAPIView):
    """`POST`: a new key for a username and password, anonymous. `GET`: the caller's keys."""

    serializer_class = ApiKeySerializer

    def _logging_in(self) -> bool:
        # Asked before DRF wraps the request (the schema generator may have none yet).
        return getattr(self.request, "method", None) == "POST"

    def get_authenticators(self):
        return [] if self._logging_in() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._logging_in() else super().get_permissions()

    def get_queryset(self):
        return services.api_keys_of(self.request.user)

    def get_authenticate_header(self, request) -> str:
        return ApiKeyAuthentication.keyword  # a wrong password is a 401 that names the scheme to use

    @extend_schema(
        operation_id="list_api_keys", summary="List your API keys (never the keys themselves)", tags=["accounts"]
    )
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(
        operation_id="create_api_key",
        request=CredentialsSerializer,
        responses={
            201: ApiKeyResponseSerializer,
            401: OpenApiResponse(description="The username or password is wrong."),
            409: OpenApiResponse(description="The account holds MAX_API_KEYS_PER_USER keys already."),
            429: OpenApiResponse(
                description="Too many failed logins for this username or from this address; see `Retry-After`."
            ),
        },
        tags=["accounts"],
        auth=[],
    )
    def post(self, request):
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key = services.key_for_credentials(**serializer.validated_data, client_address=client_address(request))
        if api_key is None:
            raise exceptions.AuthenticationFailed("The username or password is wrong.")
        return Response({"api_key": api_key}, status=status.HTTP_201_CREATED)


class TokenDetailView(generics.GenericAPIView):
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return services.api_keys_of(self.request.user)

    @extend_schema(
        operation_id="revoke_api_key",
        summary="Revoke one of your API keys, at once everywhere",
        request=None,
        responses={
            204: None,
            503: OpenApiResponse(description="The key cache is unreachable: nothing was revoked; see `Retry-After`."),
        },
        tags=["accounts"],
    )
    def delete(self, request, pk):
        services.revoke_api_key(api_key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
