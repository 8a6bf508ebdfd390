"""Trace context across the outbox: the W3C `traceparent` an event keeps, and spans continued from it.

A trace crosses a transaction where an event is written: the request (or task) that records the
event is its trace, and so is everything the event causes later, in another process, perhaps hours
later (a webhook retry). The event keeps the `traceparent` of the span that recorded it, and the
work it causes continues from there.

Tracing is on only in a process that `petstore.tracing.setup` turned it on in (an exporter is
configured). When it is off, nothing here touches OpenTelemetry: an event still gets a
`traceparent` (a fresh, unsampled one, so that a webhook receiver can still tie an event's
attempts together) and `span()` and `continued()` do nothing.
"""

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # OpenTelemetry is imported only once tracing is on: off, it costs no memory
    from opentelemetry.trace import Span, SpanContext
    from opentelemetry.util.types import AttributeValue

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
SpanKindName = Literal["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]

_enabled = False


def enabled() -> bool:
    return _enabled


def enable(on: bool = True) -> None:
    """Turned on by `petstore.tracing.setup` once this process has a tracer provider."""
    global _enabled
    _enabled = on


def format_traceparent(span_context: "SpanContext") -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def parse_traceparent(traceparent: str) -> "SpanContext | None":
    """The span context a `traceparent` names (as a remote parent), or None if it is not a valid one."""
    from opentelemetry.trace import SpanContext, TraceFlags

    match = TRACEPARENT.match(traceparent or "")
    if not match or int(match[1], 16) == 0 or int(match[2], 16) == 0:
        return None
    return SpanContext(int(match[1], 16), int(match[2], 16), is_remote=True, trace_flags=TraceFlags(int(match[3], 16)))


def current_traceparent() -> str:
    """The `traceparent` of the current span: what an event recorded now keeps. Without one (tracing
    off, or no span), a fresh trace that was not sampled: nothing recorded it, but what continues
    from it shares its trace id."""
    if _enabled:
        from opentelemetry import trace

        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            return format_traceparent(span_context)
    # Ids need to be unique, not secret (the SDK's own generator uses `random` too); never all zeros.
    return f"00-{random.getrandbits(128) | 1:032x}-{random.getrandbits(64) | 1:016x}-00"


def continued(traceparent: str) -> AbstractContextManager[None]:
    """Make `traceparent` the current context (no span of its own): what starts inside, a Celery
    task's message say, continues that trace."""
    parent = parse_traceparent(traceparent) if _enabled else None
    return _attached(parent) if parent is not None else nullcontext()


@contextmanager
def _attached(parent: "SpanContext") -> Iterator[None]:
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent)))
    try:
        yield
    finally:
        context.detach(token)


def span(
    name: str,
    *,
    parent: str,
    kind: SpanKindName = "INTERNAL",
    attributes: "Mapping[str, AttributeValue] | None" = None,
    links: Sequence[str] = (),
) -> "AbstractContextManager[Span | None]":
    """A span continuing the trace of `parent` (a `traceparent`), current while the block runs; None
    when tracing is off. `links` are other traces it also belongs to (a batch of events)."""
    if not _enabled:
        return nullcontext()
    return _span(name, parent=parent, kind=kind, attributes=attributes, links=links)


@contextmanager
def _span(name, *, parent, kind, attributes, links) -> "Iterator[Span]":
    from opentelemetry import context, trace

    parent_context = parse_traceparent(parent)
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent_context)) if parent_context else context.Context()
    linked = [trace.Link(linked) for linked in map(parse_traceparent, links) if linked is not None]
    tracer = trace.get_tracer("petstore")
    with tracer.start_as_current_span(
        name, context=ctx, kind=trace.SpanKind[kind], attributes=attributes, links=linked
    ) as current:
        yield current


def traceparent_to_send(span: "Span | None", *, parent: str) -> str:
    """The `traceparent` to send on a request made within `span`: the span's own (the receiver's
    parent is this request), or, tracing off, the one it continues."""
    if span is not None and span.get_span_context().is_valid:
        return format_traceparent(span.get_span_context())
    return parent
