from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from events.catalog import event_types
from events.selectors import events_visible_to
from events.serializers import EventFilterSerializer, EventSerializer, EventTypeSerializer


@extend_schema_view(
    list=extend_schema(parameters=[EventFilterSerializer], summary="List your events, newest first"),
    retrieve=extend_schema(summary="Retrieve one event"),
)
class EventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = EventSerializer

    def get_queryset(self):
        events = events_visible_to(self.request.user)
        if self.action == "list":
            filters = EventFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            if "type" in filters.validated_data:
                events = events.filter(type=filters.validated_data["type"])
            if "created_after" in filters.validated_data:
                events = events.filter(created_at__gt=filters.validated_data["created_after"])
            if "subject" in filters.validated_data:
                events = events.filter(subject=filters.validated_data["subject"])
        return events


class EventTypesView(APIView):
    """The event catalog: the same schemas as the OpenAPI document's `webhooks` section."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: EventTypeSerializer(many=True)}, summary="Every event type, with its schema")
    def get(self, request):
        return Response(event_types())
