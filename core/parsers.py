"""The API's JSON parser: bodies bounded in size (413) and in nesting depth (400) before parsing.

DRF hands its parser the raw request stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (which
guards `request.body` and forms) is never applied to JSON bodies: the limit is applied here.
Python's JSON decoder recurses once per nesting level, so a body of a few kilobytes nested a few
thousand levels deep raises RecursionError (a 500) instead of a parse error: the depth is
measured first, on the raw text, without recursion.
"""

import codecs
import json
import re

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework import exceptions, parsers
from rest_framework.utils.json import strict_constant

from core.charsets import is_text_encoding

# A JSON string (skipped whole, brackets inside it do not count) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, counted without parsing it."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def too_deep(text: str) -> bool:
    """Whether `text` nests deeper than JSON_MAX_DEPTH: the API's bound, checked before parsing, as
    Python's decoder recurses once per level (a RecursionError, a 500, a few thousand levels down)."""
    return nesting_depth(text) > settings.JSON_MAX_DEPTH


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        _, params = parse_header_parameters(media_type or "")
        if "charset" in params and not is_text_encoding(params["charset"]):
            # The request ignored it (core.charsets); a body in it cannot be read as it was meant.
            raise exceptions.UnsupportedMediaType(
                media_type, detail=f"Unsupported charset {params['charset']!r}: send JSON in UTF-8."
            )
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.decode(body, encoding)
        except (UnicodeError, LookupError) as error:
            raise exceptions.ParseError(f"The body is not valid {encoding}.") from error
        if too_deep(text):
            raise exceptions.ParseError(f"JSON nested deeper than {settings.JSON_MAX_DEPTH} levels.")
        parse_constant = strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error
