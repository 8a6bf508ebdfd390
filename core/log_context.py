"""Log context: the ids that let one order be followed from its request to its webhooks with one
grep. A request binds its request id; a task binds the id it was given; services bind the order,
event or delivery they load. Every log line then carries them."""

import contextvars
import logging
import re
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from types import MappingProxyType

FIELDS = ("request_id", "order_id", "event_id", "delivery_id")
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def bind(**ids) -> None:
    """Add ids to the log context of the current request or task."""
    _context.set({**_context.get(), **{key: str(value) for key, value in ids.items() if value}})


def bind_subject(subject: str) -> None:
    """Bind the id an event's subject names, when it is one the logs carry: `order/<id>` binds
    `order_id`."""
    kind, _, id = subject.partition("/")
    if f"{kind}_id" in FIELDS:
        bind(**{f"{kind}_id": id})


def start(**ids) -> None:
    """A fresh log context, for a task run by a thread that ran others before."""
    _context.set({})
    bind(**ids)


@contextmanager
def scope(**ids):
    """A fresh log context for one request or task."""
    token = _context.set({})
    bind(**ids)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for field in FIELDS:
            setattr(record, field, context.get(field, "-"))
        return True


class RequestIdMiddleware:
    """Takes the caller's `X-Request-ID` (if sane) or makes one, and returns it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        with scope(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
