"""An event's later hops (a relay, a bus publish, a consumer) in the trace of the request that caused
it: the event keeps that trace's `traceparent` (`Event.traceparent`), and these continue from it.
Tracing off, they cost nothing and yield None."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core import tracing
from events.models import Event

if TYPE_CHECKING:  # imported once tracing is on (core.tracing)
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue


@contextmanager
def continued(event: Event) -> Iterator[None]:
    """The event's trace as the current context, with no span of its own: a task queued inside
    carries it (the Celery instrumentation injects the current context into the message)."""
    with tracing.continued(event.traceparent):
        yield


@contextmanager
def span_for(
    event: Event,
    name: str,
    *,
    kind: tracing.SpanKindName = "PRODUCER",
    attributes: "Mapping[str, AttributeValue] | None" = None,
) -> "Iterator[Span | None]":
    """A span of the event's trace, e.g. `with span_for(event, "publish order.created"):`."""
    attributes = {"petstore.event.id": str(event.id), "petstore.event.type": event.type, **(attributes or {})}
    with tracing.span(name, parent=event.traceparent, kind=kind, attributes=attributes) as span:
        yield span


@contextmanager
def span_for_batch(
    events: Sequence[Event],
    name: str,
    *,
    kind: tracing.SpanKindName = "PRODUCER",
    attributes: "Mapping[str, AttributeValue] | None" = None,
) -> "Iterator[Span | None]":
    """One span for a batch of events (one bus publish with its confirms): a child of the first
    event's trace, linked to the traces of the others (OpenTelemetry's way for a batch)."""
    others = sorted({event.traceparent for event in events[1:]} - {events[0].traceparent} - {""})
    attributes = {"messaging.batch.message_count": len(events), **(attributes or {})}
    with tracing.span(name, parent=events[0].traceparent, kind=kind, attributes=attributes, links=others) as span:
        yield span


def message_headers(event: Event, span: "Span | None" = None) -> dict[str, str]:
    """The trace header for a message about the event (the bus' message headers): within `span`,
    the span's own, so that a consumer's work is its child; else the event's."""
    traceparent = tracing.traceparent_to_send(span, parent=event.traceparent)
    return {"traceparent": traceparent} if traceparent else {}
