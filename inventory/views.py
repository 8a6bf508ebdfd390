from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors, services
from inventory.serializers import InventorySerializer, PetFilterSerializer, PetSerializer, RestockSerializer


@extend_schema_view(
    list=extend_schema(parameters=[PetFilterSerializer], summary="List pets"),
    retrieve=extend_schema(summary="Retrieve a pet"),
    create=extend_schema(summary="Add a pet (staff)"),
    partial_update=extend_schema(summary="Change a pet (staff)"),
    destroy=extend_schema(
        summary="Remove a pet that has no orders (staff)",
        responses={204: None, 409: OpenApiResponse(description="The pet appears in orders.")},
    ),
)
class PetViewSet(viewsets.ModelViewSet):
    serializer_class = PetSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method in SAFE_METHODS else [IsAdminUser()]

    def get_queryset(self):
        if self.action != "list":
            return selectors.pets_matching()
        filters = PetFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.pets_matching(**filters.validated_data)

    def perform_create(self, serializer):
        serializer.instance = services.create_pet(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_pet(pet=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.delete_pet(pet=instance)

    @extend_schema(
        request=RestockSerializer,
        responses={
            200: PetSerializer,
            409: OpenApiResponse(description="The stock would exceed its limit (1,000,000 units, reserved included)."),
        },
        summary="Add stock (staff)",
    )
    @action(detail=True, methods=["post"])
    def restock(self, request, pk=None):
        pet = self.get_object()
        serializer = RestockSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pet = services.restock(pet_id=pet.id, quantity=serializer.validated_data["quantity"])
        return Response(PetSerializer(pet).data, status=status.HTTP_200_OK)


class InventoryView(APIView):
    @extend_schema(responses={200: InventorySerializer}, summary="Stock per pet status, and totals")
    def get(self, request):
        return Response(InventorySerializer(selectors.inventory_by_status()).data)
