"""Serializer rules every app's API follows, so that the API refuses what its schema forbids.

DRF coerces what it is given: `123` becomes the username `"123"`, the number `12.5` a price,
`"true"` a boolean, and an empty query parameter is the same as a missing one. The OpenAPI
schema says `string`, `integer`, `boolean`, and lists no empty filter value, so a client reading
the schema and the API would disagree (schemathesis's negative tests find each one).
"""

import re
from collections.abc import Callable, Mapping
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import fields, serializers

# (field classes, the JSON types they take, how to say it); the first match applies.
_JSON_TYPES = [
    ((fields.MultipleChoiceField, fields.ListField, fields.JSONField, fields.DictField), None, None),
    ((fields.BooleanField,), (bool,), "a boolean"),
    ((fields.IntegerField,), (int,), "an integer"),
    ((fields.FloatField,), (int, float), "a number"),
    (
        (fields.CharField, fields.DecimalField, fields.UUIDField, fields.DateTimeField, fields.ChoiceField),
        (str,),
        "a string",
    ),
]


def _type_error(field: fields.Field, value) -> str | None:
    if value is None:
        return None  # the field's own allow_null decides
    if isinstance(field, fields.IntegerField) and isinstance(value, float) and value.is_integer():
        return None  # 5.0 is an integer to JSON Schema
    for classes, json_types, name in _JSON_TYPES:
        if isinstance(field, classes):
            if json_types is None:
                return None
            if isinstance(value, bool) and bool not in json_types:
                return f"Send {name}."
            return None if isinstance(value, json_types) else f"Send {name}."
    return None


class StrictTypesMixin:
    """Refuse a JSON value of another type than the field's, instead of converting it."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors = {
                field.field_name: [message]
                for field in self._writable_fields
                if field.field_name in data and (message := _type_error(field, data[field.field_name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class FilterSerializer(serializers.Serializer):
    """Query-string filters. An empty value (`?status=`) is an error, not a missing filter: the
    schema lists no empty value, and a client that sent one meant something."""

    def to_internal_value(self, data):
        errors = {
            name: ["Leave the filter out rather than send it empty."]
            for name in self.fields
            if name in data and data.get(name) == ""
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^\d{1,8}(\.\d{1,2})?$", "examples": ["125.50"]}
)
class MoneyField(fields.DecimalField):
    """An amount as a decimal string, `"125.50"`: no sign, no exponent, no spaces, at most two
    decimals; the schema's pattern says exactly what is taken (DRF's DecimalField also takes
    numbers, `" 1e2 "` and `"-0"`)."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=10, decimal_places=2, min_value=Decimal(0), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _MONEY.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


_MONEY = re.compile(r"\d{1,8}(\.\d{1,2})?", re.ASCII)


def representer(serializer_class: type[serializers.BaseSerializer]) -> Callable[[object], dict]:
    """`serializer_class(instance).data` as a function whose fields are built once. A
    ModelSerializer introspects its model and deep-copies its declared fields for every instance
    it is made for: for an event's `data` that cost more than the rest of writing the event.
    Reading an instance keeps no state in the serializer, so one serves every thread."""
    return serializer_class().to_representation
