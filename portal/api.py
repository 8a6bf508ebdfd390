"""`POST /v1/portal/links`: the API's door into the portal."""

from datetime import timedelta

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import services
from portal.serializers import PortalLinkRequestSerializer, PortalLinkSerializer


class PortalLinksView(APIView):
    @extend_schema(
        operation_id="create_portal_link",
        summary="Make a single-use link into a customer's portal",
        description="Opening the link (once, before `expires_at`) starts a portal session scoped to that customer "
        "alone, where they run their own webhooks. With a customer's key the link opens their portal; a staff key "
        "may name any active customer (`customer`). The session ends when the key that made the link is revoked "
        "or its user deactivated (or loses staff, for a link made as staff).",
        request=PortalLinkRequestSerializer,
        responses={
            201: PortalLinkSerializer,
            403: OpenApiResponse(description="`customer` was sent with a key that is not staff."),
            404: OpenApiResponse(description="No active customer has the username `customer` names."),
        },
        tags=["portal"],
    )
    def post(self, request):
        serializer = PortalLinkRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, link = services.make_link(
            customer=serializer.validated_data.get("customer", request.user),
            api_key=request.auth,
            ttl=timedelta(seconds=serializer.validated_data["ttl_seconds"]),
        )
        url = request.build_absolute_uri(reverse("portal:enter", args=[token]))
        return Response(
            PortalLinkSerializer({"url": url, "expires_at": link.expires_at}).data, status=status.HTTP_201_CREATED
        )
