"""The events the webhooks app produces itself: the test event, and the operational events that
tell an endpoint's owner about their endpoints (recorded by `webhooks.pipeline.operational`)."""

from enum import StrEnum

from rest_framework import serializers

from events.catalog.registry import EventTypeSpec
from webhooks.models import Endpoint


class WebhookEvent(StrEnum):
    TEST = "webhook.test"
    ENDPOINT_DISABLED = "endpoint.disabled"
    ENDPOINT_ENABLED = "endpoint.enabled"
    DELIVERY_EXHAUSTED = "delivery.exhausted"


# About one endpoint (subject `endpoint/<id>`): never sent to that endpoint itself.
OPERATIONAL = frozenset(
    {WebhookEvent.ENDPOINT_DISABLED, WebhookEvent.ENDPOINT_ENABLED, WebhookEvent.DELIVERY_EXHAUSTED}
)


class WebhookTestData(serializers.Serializer):
    endpoint_id = serializers.UUIDField()
    message = serializers.CharField()


class EndpointStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(
        help_text="The endpoint's URL without its path and query, which may hold secrets: `https://host[:port]/…`."
    )
    disabled_reason = serializers.ChoiceField(
        choices=Endpoint.DisabledReason.choices,
        allow_blank=True,
        help_text="Why the endpoint is disabled; empty once it is enabled.",
    )


class EndpointEventData(serializers.Serializer):
    endpoint = EndpointStateSerializer()


class ExhaustedDeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    endpoint_id = serializers.UUIDField()
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    attempts = serializers.IntegerField(min_value=1, help_text="Attempts made, the last one included.")


class DeliveryExhaustedData(serializers.Serializer):
    delivery = ExhaustedDeliverySerializer()


EVENT_TYPES = [
    EventTypeSpec(WebhookEvent.TEST, "Sent to one endpoint by POST /v1/webhooks/{id}/test.", WebhookTestData),
    EventTypeSpec(
        WebhookEvent.ENDPOINT_DISABLED,
        "An endpoint was disabled: it answered 410 Gone, failed for too long, or its owner or staff disabled it "
        "(`endpoint.disabled_reason`). Sent to the owner's other endpoints, never to that one.",
        EndpointEventData,
    ),
    EventTypeSpec(
        WebhookEvent.ENDPOINT_ENABLED,
        "An endpoint was enabled again. Sent to the owner's other endpoints, never to that one.",
        EndpointEventData,
    ),
    EventTypeSpec(
        WebhookEvent.DELIVERY_EXHAUSTED,
        "A delivery used its last attempt and is failed (it can be resent). Sent to the owner's other endpoints, "
        "never to the one it failed at; a delivery of an operational event gives none.",
        DeliveryExhaustedData,
    ),
]
