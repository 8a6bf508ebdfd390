"""Form fields for the apps' admin forms."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from core.parsers import too_deep


class BoundedJSONField(forms.JSONField):
    """Django's JSON form field with the API's bound on nesting (JSON_MAX_DEPTH), measured on the
    text before it is parsed: Python's decoder recurses once per level, so a text nested a few
    thousand levels deep raises RecursionError, a 500, where a form error belongs."""

    default_error_messages = {"too_deep": "This JSON is nested too deeply: at most %(depth)d levels."}

    def to_python(self, value):
        if isinstance(value, str) and too_deep(value):
            raise ValidationError(
                self.error_messages["too_deep"], code="too_deep", params={"depth": settings.JSON_MAX_DEPTH}
            )
        return super().to_python(value)

    def bound_data(self, data, initial):
        # The form shown again with its errors parses what was sent once more.
        if isinstance(data, str) and too_deep(data):
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)
