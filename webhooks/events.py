"""The events the webhooks app produces itself."""

from enum import StrEnum

from rest_framework import serializers

from events.registry import EventTypeSpec


class WebhookEvent(StrEnum):
    TEST = "webhook.test"


class WebhookTestData(serializers.Serializer):
    endpoint_id = serializers.UUIDField()
    message = serializers.CharField()


EVENT_TYPES = [
    EventTypeSpec(WebhookEvent.TEST, "Sent to one endpoint by POST /v1/webhooks/{id}/test.", WebhookTestData),
]
