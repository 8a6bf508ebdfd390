from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.authentication import ApiKeyAuthentication
from accounts.serializers import ApiKeyResponseSerializer, CredentialsSerializer, UserSerializer
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


class TokenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request) -> str:
        return ApiKeyAuthentication.keyword  # a wrong password is a 401 that names the scheme to use

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
