from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from events.serializers import EventSerializer
from orders import selectors, services
from orders.models import IdempotencyKey, Order
from orders.serializers import OrderSerializer, PlaceOrderSerializer

IDEMPOTENCY_KEY_MAX_LENGTH = IdempotencyKey._meta.get_field("key").max_length
# Read as a DRF text field, the rule the schema's post-processing states for text (no NUL, not blank).
IDEMPOTENCY_KEY_FIELD = serializers.CharField(max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH},  # as `create` checks it
    OpenApiParameter.HEADER,
    description="Send the same key to retry safely: within 24 h the same key and body return the first "
    "order; the same key with another body is a 422.",
)


@extend_schema_view(
    list=extend_schema(summary="List your orders, newest first"),
    retrieve=extend_schema(summary="Retrieve an order"),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OrderSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Order.objects.none()
        return selectors.orders_visible_to(self.request.user)

    @extend_schema(
        summary="Place an order",
        description="Reserves stock and answers at once; payment, stock, e-mail and webhooks follow in workers.",
        request=PlaceOrderSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: OrderSerializer,
            409: OpenApiResponse(description="Not enough stock."),
            422: OpenApiResponse(
                description="Idempotency-Key reused with another body, mixed currencies, or a total beyond "
                "9,999,999,999.99."
            ),
        },
    )
    def create(self, request):
        serializer = PlaceOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            try:
                key = IDEMPOTENCY_KEY_FIELD.run_validation(key)
            except ValidationError as error:
                raise ValidationError({"Idempotency-Key": error.detail}) from error
        placed = services.place_order(user=request.user, idempotency_key=key, **serializer.validated_data)
        headers = {"Location": request.build_absolute_uri(f"/v1/orders/{placed.order.id}")}
        if placed.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(placed.representation, status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(
        request=None,
        summary="Cancel an order (stock released, payment refunded)",
        responses={
            200: OrderSerializer,
            409: OpenApiResponse(description="The order has shipped."),
            503: OpenApiResponse(description="The payment gateway did not answer; nothing changed. See Retry-After."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = services.cancel_order(order_id=self.get_object().id)
        return Response(OrderSerializer(order).data)

    @extend_schema(
        request=None,
        summary="Mark an approved order shipped (staff)",
        responses={200: OrderSerializer, 409: OpenApiResponse(description="Not approved.")},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
    def ship(self, request, pk=None):
        order = services.ship_order(order_id=self.get_object().id)
        return Response(OrderSerializer(order).data)

    @extend_schema(
        request=None,
        summary="Mark a shipped order delivered (staff)",
        responses={200: OrderSerializer, 409: OpenApiResponse(description="Not shipped.")},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
    def deliver(self, request, pk=None):
        order = services.deliver_order(order_id=self.get_object().id)
        return Response(OrderSerializer(order).data)

    @extend_schema(
        summary="The order's timeline: its events, oldest first", responses={200: EventSerializer(many=True)}
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def events(self, request, pk=None):
        timeline = selectors.order_timeline(self.get_object())
        return Response(EventSerializer(timeline, many=True).data)
