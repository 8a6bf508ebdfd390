from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from accounts.throttling import AnonymousRateThrottle, ApiKeyRateThrottle
from webhooks import selectors, services
from webhooks.serializers import (
    FILTER_TEST_REQUEST,
    DeliveryFilterSerializer,
    DeliverySerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    FilterTestResultSerializer,
    FilterTestSerializer,
    RecoveredSerializer,
    RecoverSerializer,
)


class WebhookTestRateThrottle(ApiKeyRateThrottle):
    """Test events per user (WEBHOOK_TEST_RATE_LIMIT): each one is an event and a delivery."""

    scope = "webhook_test"


@extend_schema_view(
    list=extend_schema(summary="List your webhook endpoints"),
    create=extend_schema(
        summary="Subscribe an endpoint",
        responses={
            201: EndpointWithSecretSerializer,
            409: OpenApiResponse(description="The account has MAX_WEBHOOK_ENDPOINTS_PER_USER endpoints already."),
        },
    ),
    retrieve=extend_schema(summary="Retrieve an endpoint"),
    partial_update=extend_schema(
        summary="Change an endpoint (events, description, ordering, rate_limit, filter, is_active)"
    ),
    destroy=extend_schema(summary="Delete an endpoint and its delivery log"),
)
class EndpointViewSet(viewsets.ModelViewSet):
    serializer_class = EndpointSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.endpoints_of(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.create_endpoint(owner=request.user, **serializer.validated_data)
        return Response(
            EndpointWithSecretSerializer(endpoint).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(f"/v1/webhooks/{endpoint.id}")},
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_endpoint(endpoint=serializer.instance, **serializer.validated_data)

    @extend_schema(
        request=None,
        responses={200: EndpointWithSecretSerializer},
        summary="Rotate the signing secret (the old one keeps signing for 24 h)",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = services.rotate_secret(endpoint=self.get_object())
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer},
        summary="Send a webhook.test event",
        description="At most WEBHOOK_TEST_RATE_LIMIT per user (default 10 a minute); beyond, 429 with Retry-After.",
    )
    @action(
        detail=True,
        methods=["post"],
        throttle_classes=[ApiKeyRateThrottle, AnonymousRateThrottle, WebhookTestRateThrottle],
    )
    def test(self, request, pk=None):
        delivery = services.send_test_event(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[DeliveryFilterSerializer],
        responses={200: DeliverySerializer(many=True)},
        summary="The endpoint's deliveries, newest first, with their attempts",
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        filters = DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = selectors.deliveries_of(self.get_object(), **filters.validated_data)
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer},
        summary="Send a delivery again",
        parameters=[OpenApiParameter("delivery_id", str, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[^/.]+)/retry")
    def retry(self, request, pk=None, delivery_id=None):
        endpoint = self.get_object()
        deliveries = selectors.deliveries_of(endpoint)
        delivery = get_object_or_404(deliveries, id=delivery_id)
        services.resend_deliveries(deliveries.filter(id=delivery.id))
        return Response(DeliverySerializer(deliveries.get(id=delivery.id)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=RecoverSerializer,
        responses={202: RecoveredSerializer},
        summary="Resend every failed delivery since a time",
    )
    @action(detail=True, methods=["post"])
    def recover(self, request, pk=None):
        endpoint = self.get_object()
        serializer = RecoverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.resend_failed_since(endpoint=endpoint, **serializer.validated_data)
        return Response({"deliveries": count}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request={"application/json": FILTER_TEST_REQUEST},
        responses={200: FilterTestResultSerializer},
        summary="Whether an event passes the endpoint's filter",
        description="Matches the endpoint's `filter` against an envelope you send (`event`) or one of your events "
        "(`event_id`); its event types are not considered. Without a filter every event matches.",
    )
    @action(detail=True, methods=["post"], url_path="filter-test")
    def filter_test(self, request, pk=None):
        endpoint = self.get_object()
        serializer = FilterTestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "event_id" in serializer.validated_data:
            event = get_object_or_404(
                selectors.events_for_filter_test(endpoint), id=serializer.validated_data["event_id"]
            )
            envelope = event.envelope()
        else:
            envelope = serializer.validated_data["event"]
        return Response({"matches": services.filter_matches(endpoint=endpoint, envelope=envelope)})
