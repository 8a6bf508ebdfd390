from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from core.serializers import FilterSerializer, StrictTypesMixin
from events.serializers import EventPatternField
from webhooks import filters
from webhooks.models import (
    MAX_EVENT_PATTERNS,
    MAX_RATE_LIMIT,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    validate_event_types,
)
from webhooks.pipeline.targets import UnsafeTarget, check_url
from webhooks.selectors import ATTEMPTS_SHOWN, latest_attempts


@extend_schema_field({"type": "string", "format": "uri", "maxLength": 2000})
class WebhookURLField(serializers.CharField):
    """Read by `webhooks.pipeline.targets` alone, as the sender reads it: a host name of labels up to 63
    characters (one label too), as RFC 3986 and the schema's `uri` allow; Django's URLValidator
    wants a top-level domain and refuses underscores, which the sender does not."""

    def __init__(self, **kwargs):
        super().__init__(max_length=2000, **kwargs)


FILTER_DESCRIPTION = (
    "Only events whose envelope matches are delivered to this endpoint; the others create no delivery. "
    'Keys are dotted paths into the envelope (`"type"`, `"data.order.total"`, `"data.order.items.0.quantity"`) '
    "whose value is a literal (equality) or an operator object: `$eq $ne $gt $gte $lt $lte $in $nin $exists "
    "$contains` (list membership, substring), and `$not`; filters combine with `$and`, `$or` (lists of filters) "
    "and `$not`; keys side by side must all hold. Numbers and decimal strings (money) compare as decimals. "
    "A missing path matches only `$ne`, `$nin`, `$exists: false` and negations. "
    f"At most {filters.MAX_DEPTH} levels deep, {filters.MAX_CONDITIONS} conditions and {filters.MAX_BYTES} bytes; "
    "every path must exist in at least one subscribed event type's schema (`GET /v1/event-types`). "
    "Null: every event. `webhook.test` events ignore it. "
    'Example: `{"data.order.total": {"$gte": "100.00"}, "data.order.status": {"$in": ["approved", "shipped"]}}`.'
)


@extend_schema_field({"type": "object", "description": FILTER_DESCRIPTION})
class FilterField(serializers.JSONField):
    """A JSON object or null; what it holds is checked by `services.check_filter`, which knows the
    endpoint's event types."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("A filter is a JSON object (or null for none).")
        return super().to_internal_value(data)


class EndpointSerializer(StrictTypesMixin, serializers.ModelSerializer):
    url = WebhookURLField()
    events = serializers.ListField(
        source="event_types",
        child=EventPatternField(),
        min_length=1,
        max_length=MAX_EVENT_PATTERNS,
        validators=[validate_event_types],
        help_text='Event types to receive: exact types, "prefix.*" wildcards, or "*" for all.',
    )
    disabled_reason = serializers.ChoiceField(
        choices=Endpoint.DisabledReason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why the endpoint is disabled; empty while it is active.",
    )
    all_customers = serializers.BooleanField(
        default=False, help_text="Staff only: receive every customer's events and store-wide ones."
    )
    ordering = serializers.ChoiceField(
        choices=Endpoint.Ordering.choices,
        default=Endpoint.Ordering.NONE,
        help_text="`per_subject`: one subject's events (one order's) reach this endpoint one at a time, in "
        "`sequence` order; a later one waits while an earlier one is retried, and goes once it succeeded or "
        "finally failed. Other subjects are not held up. `none`: no order between events.",
    )
    needs_secret_rotation = serializers.BooleanField(
        read_only=True,
        help_text="True when the stored signing secret can no longer be decrypted (the server's encryption key "
        "changed): deliveries fail, each attempt saying why, until you rotate the secret with "
        "`POST /v1/webhooks/{id}/rotate-secret`.",
    )
    rate_limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_RATE_LIMIT,
        allow_null=True,
        default=None,
        help_text="Deliveries per second at most, across every worker; deliveries above it wait, they are not "
        "dropped. Null: no limit.",
    )
    filter = FilterField(allow_null=True, default=None)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "all_customers",
            "ordering",
            "rate_limit",
            "filter",
            "is_active",
            "disabled_reason",
            "needs_secret_rotation",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "disabled_reason", "needs_secret_rotation", "created_at", "updated_at"]

    def validate_url(self, url: str) -> str:
        try:
            check_url(url)
        except UnsafeTarget as error:
            raise serializers.ValidationError(str(error)) from error
        return url

    def validate_events(self, patterns: list[str]) -> list[str]:
        return sorted(set(patterns))

    def validate_all_customers(self, value: bool) -> bool:
        if value and not self.context["request"].user.is_staff:
            raise exceptions.PermissionDenied("Only staff endpoints may receive every customer's events.")
        return value


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret. Shown only now: keep it.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["attempted_at", "response_status", "duration_ms", "response_body", "error"]


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField()
    event_type = serializers.CharField(source="event.type")
    attempts = serializers.SerializerMethodField(
        help_text=f"The latest {ATTEMPTS_SHOWN} attempts at most, oldest first; `attempt_count` counts them all."
    )

    @extend_schema_field(AttemptSerializer(many=True))
    def get_attempts(self, delivery: Delivery) -> list[dict]:
        latest = getattr(delivery, "latest_attempts", None)  # prefetched by `selectors.deliveries_of`
        if latest is None:
            latest = list(latest_attempts().filter(delivery=delivery)[:ATTEMPTS_SHOWN])
        return AttemptSerializer(reversed(latest), many=True).data

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "created_at",
            "updated_at",
            "attempts",
        ]
        read_only_fields = fields


class DeliveryFilterSerializer(FilterSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


class RecoverSerializer(StrictTypesMixin, serializers.Serializer):
    since = serializers.DateTimeField(help_text="Resend every failed delivery created since then.")


class RecoveredSerializer(serializers.Serializer):
    deliveries = serializers.IntegerField(help_text="How many failed deliveries were queued again.")


FILTER_TEST_REQUEST = {
    "description": "An envelope to match, or the id of one of your events.",
    "oneOf": [
        {
            "type": "object",
            "properties": {"event": {"type": "object", "description": "An envelope, as webhooks carry it."}},
            "required": ["event"],
            "not": {"required": ["event_id"]},
        },
        {
            "type": "object",
            "properties": {"event_id": {"type": "string", "format": "uuid", "description": "One of your events."}},
            "required": ["event_id"],
            "not": {"required": ["event"]},
        },
    ],
}


class FilterTestSerializer(StrictTypesMixin, serializers.Serializer):
    """Either `event` or `event_id` (`FILTER_TEST_REQUEST` is its schema)."""

    event = serializers.DictField(required=False)
    event_id = serializers.UUIDField(required=False)

    def validate(self, attrs: dict) -> dict:
        if len(attrs) != 1:
            raise serializers.ValidationError("Send one of event (an envelope) and event_id.")
        return attrs


class FilterTestResultSerializer(serializers.Serializer):
    matches = serializers.BooleanField(help_text="Whether the endpoint's filter lets the event through.")
