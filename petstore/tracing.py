"""OpenTelemetry, set up in one place: each web and worker process calls `setup` once it is the
process that serves (a gunicorn worker imports `petstore.wsgi` after the fork; a Celery worker sets
up in its pool's process: `petstore.celery`), since an exporter's thread does not survive a fork.

Off unless configured with the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) exports over OTLP/HTTP, `OTEL_TRACES_EXPORTER=console` prints
spans, `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keeps it off whatever else is set.
Off, nothing is instrumented: no middleware, no signal handler, no span.
"""

import logging
import os

from core import tracing

logger = logging.getLogger(__name__)

# Probes and scrapes every few seconds would drown the traces worth reading.
EXCLUDED_URLS = "healthz,readyz,metrics"

_provider_pid: int | None = None


def configured_exporter() -> str | None:
    """The exporter the OTEL_* variables ask for ("otlp" or "console"); None: tracing stays off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none").strip().lower()
    if exporter in ("otlp", "console"):
        return exporter
    if exporter != "none":
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported here (otlp, console, none): tracing is off", exporter)
    return None


def setup(*, service_name: str, exporter=None) -> bool:
    """Turn tracing on in this process if an exporter is configured, or given (a `SpanExporter`: the
    tests' in-memory one, whose spans are then exported as each ends); whether it is on. Off, not
    even OpenTelemetry's SDK is imported."""
    global _provider_pid
    kind = configured_exporter() if exporter is None else "given"
    if kind is None:
        return False
    if _provider_pid != os.getpid():
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

        if kind == "given":
            processor = SimpleSpanProcessor(exporter)
        elif kind == "console":
            processor = BatchSpanProcessor(ConsoleSpanExporter())
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Endpoint, headers, timeout, compression: from the OTEL_EXPORTER_OTLP_* variables. Spans
            # are exported in batches from a thread of the processor's own.
            processor = BatchSpanProcessor(OTLPSpanExporter())
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        provider = TracerProvider(resource=Resource.create(attributes))  # the sampler from OTEL_TRACES_SAMPLER
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        _provider_pid = os.getpid()
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", EXCLUDED_URLS))
    CeleryInstrumentor().instrument()
    tracing.enable()
    return True


def teardown() -> None:
    """Tracing off again in this process (the tests turn it on and off around the tests that use it)."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    tracing.enable(False)
    DjangoInstrumentor().uninstrument()
    CeleryInstrumentor().uninstrument()


def flush() -> None:
    """Export the spans still waiting (a prefork child exits without running atexit handlers)."""
    if _provider_pid == os.getpid():
        from opentelemetry import trace

        trace.get_tracer_provider().force_flush()
