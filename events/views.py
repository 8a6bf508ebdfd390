from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from events.catalog import asyncapi
from events.catalog.schemas import event_types
from events.outbox import positions
from events.selectors import events_visible_to
from events.serializers import (
    EventFilterSerializer,
    EventSerializer,
    EventTypeSerializer,
)


@extend_schema_view(
    list=extend_schema(
        parameters=[EventFilterSerializer],
        summary="List your events, newest first (with `after`: the events after that one, oldest first)",
    ),
    retrieve=extend_schema(summary="Retrieve one event"),
)
class EventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = EventSerializer

    def get_queryset(self):
        events = events_visible_to(self.request.user)
        if self.action == "list":
            filters = self._filters()
            if "type" in filters:
                events = events.filter(type=filters["type"])
            if "created_after" in filters:
                events = events.filter(created_at__gt=filters["created_after"])
            if "subject" in filters:
                events = events.filter(subject=filters["subject"])
        return events

    def _filters(self) -> dict:
        filters = EventFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return filters.validated_data

    def list(self, request, *args, **kwargs):
        if "after" not in (filters := self._filters()):
            return super().list(request, *args, **kwargs)
        anchor = events_visible_to(request.user).filter(id=filters["after"]).first()
        if anchor is None:
            raise NotFound(f"No event {filters['after']} of yours.")
        limit = self.paginator.get_page_size(request)
        found, _, _ = positions.read_after(self.get_queryset(), positions.position_of(anchor), limit=limit)
        next_page = (
            replace_query_param(request.build_absolute_uri(), "after", str(found[-1].id))
            if len(found) == limit
            else None
        )
        return Response({"next": next_page, "previous": None, "results": self.get_serializer(found, many=True).data})


class EventTypesView(APIView):
    """The event catalog: the same schemas as the OpenAPI document's `webhooks` section."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: EventTypeSerializer(many=True)}, summary="Every event type, with its schema")
    def get(self, request):
        return Response(event_types())


class AsyncApiView(APIView):
    """The AsyncAPI 3.0 document of the event bus and the event stream."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="asyncapi",
        summary="The AsyncAPI 3.0 document: the event bus and the event stream",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="An AsyncAPI 3.0 document.")},
    )
    def get(self, request):
        return Response(asyncapi.document(host=request.get_host(), protocol=request.scheme))
