"""An HTML form's fields as the JSON body the API takes, for the API's own serializers.

The serializers are strict about JSON types (`core.serializers.StrictTypesMixin`): a form sends
strings only, so numbers, nulls, lists and the filter's JSON are turned into what a JSON client
would send. A value that cannot be turned is passed on as it came, so the serializer refuses it
with the API's own message.
"""

import json
from datetime import UTC

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.utils.json import strict_constant

from core.parsers import too_deep

ENDPOINT_FIELDS = ("url", "description", "events", "ordering", "rate_limit", "filter")
# The filter textarea is read as JSON at most this long; the serializer bounds it further.
MAX_FILTER_TEXT = 20_000


class FormError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


_LONGEST_NUMBER = 1000  # digits; DRF's own bound on a number's text (int() reads up to 4,300)


def endpoint_body(form: QueryDict) -> dict:
    """The endpoint fields the form sent, as JSON would carry them; `filter` as parsed JSON (an
    empty one: null, no filter), for the serializer and the service to check."""
    body = {}
    if "url" in form:
        body["url"] = form["url"].strip()
    if "description" in form:
        body["description"] = form["description"]
    if "events" in form:
        body["events"] = [pattern for pattern in form.getlist("events") if pattern]
    if "ordering" in form:
        body["ordering"] = form["ordering"]
    if "rate_limit" in form:
        text = form["rate_limit"].strip()
        # A number as JSON would carry it: ASCII digits only ("²" is a digit to isdigit, not to int)
        # and a length int() reads; anything else goes on as text, for the serializer to refuse.
        number = text.isascii() and text.isdigit() and len(text) <= _LONGEST_NUMBER
        body["rate_limit"] = None if not text else int(text) if number else text
    if "filter" in form:
        body["filter"] = parse_filter(form["filter"])
    return body


def parse_filter(text: str):
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_FILTER_TEXT:
        raise FormError("filter", f"A filter is at most {MAX_FILTER_TEXT:,} characters of JSON.")
    if too_deep(text):  # as the API's parser: no RecursionError
        raise FormError("filter", f"The filter's JSON is nested deeper than {settings.JSON_MAX_DEPTH} levels.")
    try:
        return json.loads(text, parse_constant=strict_constant)
    except ValueError as error:
        raise FormError("filter", f"The filter is not valid JSON: {error}.") from None


def rfc3339(text: str) -> str:
    """A browser's `datetime-local` value (no zone: read as UTC, as the form says) as RFC 3339;
    anything else as it came, for the serializer to judge."""
    try:
        moment = parse_datetime(text.strip())
    except ValueError:  # well-formed but no such time (month 13)
        return text
    if moment is None:
        return text
    return (timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment).isoformat()


def filter_text(value) -> str:
    """A stored filter as the textarea shows it."""
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)
