import re

from rest_framework import serializers

from core.serializers import FilterSerializer
from events.catalog import registry
from events.models import Event


class EventTypeField(serializers.ChoiceField):
    """One of the registered event types. DRF builds each serializer's fields anew (a deep copy
    calls `__init__` again), so the choices are read from the registry every time."""

    def __init__(self, **kwargs):
        super().__init__(choices=[spec.type for spec in registry.registered()], **kwargs)


class EventPatternField(serializers.ChoiceField):
    """An exact event type, a `prefix.*` wildcard over registered types, or `*`: the schema lists
    each, so a client can see what a subscription may name."""

    def __init__(self, **kwargs):
        super().__init__(choices=registry.known_patterns(), **kwargs)


class EventSerializer(serializers.ModelSerializer):
    """The envelope: the same shape the webhooks deliver."""

    timestamp = serializers.DateTimeField(source="created_at")
    type = EventTypeField()
    subject = serializers.CharField(help_text="What the event is about: `order/<id>`, `pet/<id>`, `endpoint/<id>`.")
    sequence = serializers.IntegerField(
        min_value=1,
        help_text="The subject's events counted from 1, with no gaps: order by it, and see what you missed.",
    )
    data = serializers.JSONField(help_text="The object(s) the event is about, as the API showed them then.")

    class Meta:
        model = Event
        fields = ["id", "type", "timestamp", "subject", "sequence", "data"]
        read_only_fields = fields


class EventFilterSerializer(FilterSerializer):
    type = EventTypeField(required=False)
    created_after = serializers.DateTimeField(required=False)
    subject = serializers.CharField(
        required=False, max_length=100, help_text="Only this subject's events, e.g. `order/<order id>`."
    )
    after = serializers.UUIDField(
        required=False,
        help_text="An event id: the events after that one, oldest first, in the order they were committed "
        "(to catch up from the last event seen). `next` carries on from the last one listed.",
    )


class EventPatternListField(serializers.RegexField):
    """Comma-separated event patterns (`EventPatternField`'s): the schema's `pattern` names each
    registered one, so that what it describes as valid the API accepts (built anew, as above)."""

    def __init__(self, **kwargs):
        one = "|".join(re.escape(pattern) for pattern in sorted(registry.known_patterns(), key=len, reverse=True))
        kwargs.setdefault(
            "error_messages", {"invalid": "Name registered event types or `prefix.*` wildcards, comma-separated."}
        )
        super().__init__(rf"^\s*({one})\s*(,\s*({one})\s*)*$", **kwargs)


class EventStreamFilterSerializer(FilterSerializer):
    types = EventPatternListField(
        required=False,
        help_text="Comma-separated event types and `prefix.*` wildcards (`order.*,payment.succeeded`); "
        "default: every type.",
    )
    after = serializers.UUIDField(
        required=False, help_text="Resume after this event id (as the `Last-Event-ID` header does)."
    )

    def validate_types(self, value: str) -> list[str]:
        return [pattern.strip() for pattern in value.split(",")]


class EventTypeSerializer(serializers.Serializer):
    type = EventTypeField()
    description = serializers.CharField()
    schema = serializers.JSONField(help_text="JSON Schema (2020-12) of the event's `data`.")
