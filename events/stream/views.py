"""The live event stream's endpoint, `GET /v1/events/stream`."""

import functools
import json
import uuid

from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.views import APIView

from events.outbox import positions
from events.serializers import EventStreamFilterSerializer
from events.stream import live as stream
from events.stream import slots as stream_slots


class EventStreamRenderer(renderers.BaseRenderer):
    """`text/event-stream` for the stream itself; a refusal (a problem document) is still JSON."""

    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


LAST_EVENT_ID = OpenApiParameter(
    "Last-Event-ID",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="Resume after this event (EventSource sends it when it reconnects): first the events missed, "
    "from the database, in order, then live ones, with no gap and no repeat.",
)


class EventStreamView(APIView):
    """The live event stream (Server-Sent Events), served by the ASGI side of the web server:
    the view checks the request in a thread, then the stream waits on the event loop."""

    renderer_classes = [EventStreamRenderer, renderers.JSONRenderer]

    @extend_schema(
        operation_id="events_stream",
        summary="Stream your events live (Server-Sent Events)",
        description="Each event as `id: <event id>`, `event: <type>`, `data: <envelope JSON>`; a comment line "
        "(`: heartbeat`) at least every 15 s. Staff see every customer's events. At most "
        "`MAX_EVENT_STREAMS_PER_USER` streams per user (429 beyond); a client that stops reading is disconnected. "
        "The AsyncAPI document (`GET /v1/asyncapi`) describes the messages.",
        parameters=[EventStreamFilterSerializer, LAST_EVENT_ID],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description="An endless stream of events and heartbeats."
            ),
            404: OpenApiResponse(description="`Last-Event-ID` or `after` names no event of yours."),
            429: OpenApiResponse(description="Too many streams open, or too many requests; see `Retry-After`."),
            503: OpenApiResponse(
                description="This server process holds as many streams as it may "
                "(`MAX_EVENT_STREAMS_PER_PROCESS`); try again after `Retry-After`."
            ),
        },
    )
    def get(self, request):
        filters = EventStreamFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = stream.streamed_events(user=request.user, patterns=filters.validated_data.get("types", []))
        resume = self._resume_after(request, filters.validated_data.get("after"))
        if resume is None:
            start = positions.tail()
        elif (anchor := stream.streamed_events(user=request.user, patterns=[]).filter(id=resume).first()) is None:
            raise NotFound(f"No event {resume} of yours to resume after.")
        else:
            start = positions.position_of(anchor)
        slot = stream_slots.take(user_id=request.user.id)
        if not connection.in_atomic_block:
            connection.close()  # the stream looks with a connection of its own, only while it looks
        # The key the stream opened with answers, as the stream goes, whether it still holds
        # (`accounts.models.ApiKey.still_grants`): revoked, its user deactivated or no longer staff ends it.
        still_allowed = functools.partial(request.auth.still_grants, staff=request.user.is_staff)
        response = StreamingHttpResponse(
            stream.stream(user=request.user, events=events, start=start, slot=slot, still_allowed=still_allowed),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold events back
        return response

    @staticmethod
    def _resume_after(request, after: uuid.UUID | None) -> uuid.UUID | None:
        header = request.headers.get("Last-Event-ID", "").strip()
        if not header:
            return after
        try:
            return uuid.UUID(header)
        except ValueError:
            raise ValidationError({"Last-Event-ID": ["Send an event id."]}) from None
