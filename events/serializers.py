from rest_framework import serializers

from events.models import Event, EventType


class EventSerializer(serializers.ModelSerializer):
    """The envelope: the same shape the webhooks deliver."""

    timestamp = serializers.DateTimeField(source="created_at")
    type = serializers.ChoiceField(choices=EventType.choices)
    data = serializers.JSONField(help_text="The object(s) the event is about, as the API showed them then.")

    class Meta:
        model = Event
        fields = ["id", "type", "timestamp", "data"]
        read_only_fields = fields


class EventFilterSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EventType.choices, required=False)
    created_after = serializers.DateTimeField(required=False)


class EventTypeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EventType.choices)
    description = serializers.CharField()
    schema = serializers.JSONField(help_text="JSON Schema (2020-12) of the event's `data`.")
