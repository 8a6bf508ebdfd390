"""Traces: one trace from `POST /v1/orders` to the webhook attempt, through the outbox, the Celery
tasks and the relay; each attempt sends a W3C `traceparent` continuing it (CONTRACT section 6).

This process (the API, through Django's test client) traces into an in-memory exporter. The worker
is a real Celery worker process on real Redis that exports over OTLP/HTTP, as in production, to a
collector played by a loopback HTTP server here, which decodes what it receives with the protocol's
own protobuf classes."""

import gzip
import os
import re
import subprocess

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from core import tracing
from events import tasks
from events import tracing as events_tracing
from events.models import Event
from events.outbox import recording
from harness import PYTHON, ROOT, Processes
from petstore import tracing as setup
from tests.conftest import eventually, order_body
from tests.sending import send_here
from webhooks import services as webhook_services
from webhooks.models import Delivery

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"


def trace_id(traceparent: str) -> str:
    return TRACEPARENT.match(traceparent)[1]


def span_id(traceparent: str) -> str:
    return TRACEPARENT.match(traceparent)[2]


@pytest.fixture(scope="session")
def _exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()  # a process has one tracer provider: one exporter for the session


@pytest.fixture
def spans(_exporter):
    """Tracing on in this process, exported to memory, for one test."""
    _exporter.clear()
    setup.setup(service_name="petstore-api", exporter=_exporter)
    yield _exporter
    setup.teardown()


def test_traceparents_are_read_and_written_as_w3c_says():
    value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert tracing.format_traceparent(tracing.parse_traceparent(value)) == value
    for invalid in (
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # an all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # an all-zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    ):
        assert tracing.parse_traceparent(invalid) is None, invalid


@pytest.mark.django_db
def test_with_tracing_off_nothing_is_instrumented_and_an_event_still_gets_an_unsampled_traceparent(customer, pet):
    assert not tracing.enabled()
    assert OTEL_MIDDLEWARE not in settings.MIDDLEWARE
    customer.client.post("/v1/orders", order_body(pet), format="json")
    (event,) = Event.objects.filter(type="order.created")
    assert TRACEPARENT.match(event.traceparent)
    assert event.traceparent.endswith("-00")  # not sampled: nothing recorded it


@pytest.mark.django_db
def test_with_tracing_off_a_webhook_attempt_still_carries_its_events_traceparent(customer, httpserver):
    endpoint = webhook_services.create_endpoint(owner=customer.user, url=httpserver.url_for("/hook"), event_types=["*"])
    httpserver.expect_request("/hook").respond_with_data(status=204)
    delivery = webhook_services.send_test_event(endpoint=endpoint)
    (attempt,) = send_here([delivery.id])
    assert attempt.response_status == 204
    ((request, _),) = httpserver.log
    assert request.headers["traceparent"] == delivery.event.traceparent
    assert TRACEPARENT.match(delivery.event.traceparent)


@pytest.mark.parametrize(("variables", "traced"), [({}, False), ({"OTEL_TRACES_EXPORTER": "console"}, True)])
def test_with_tracing_off_a_web_process_does_not_even_load_the_instrumentations(variables, traced):
    # Not the OpenTelemetry API itself: redis-py imports it whenever it is installed.
    script = (
        "import sys, petstore.asgi; from django.conf import settings; "
        "print(any(m.startswith('opentelemetry.instrumentation') for m in sys.modules), "
        f"{OTEL_MIDDLEWARE!r} in settings.MIDDLEWARE)"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", **variables}
    result = subprocess.run([PYTHON, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(traced), str(traced)]


@pytest.mark.django_db
def test_an_event_keeps_the_trace_of_the_request_that_recorded_it(spans, customer, pet):
    client_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = customer.client.post("/v1/orders", order_body(pet), format="json", HTTP_TRACEPARENT=client_trace)
    assert response.status_code == 201

    (request_span,) = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    (event,) = Event.objects.filter(type="order.created")
    assert f"{request_span.context.trace_id:032x}" == trace_id(event.traceparent) == trace_id(client_trace)
    assert f"{request_span.context.span_id:016x}" == span_id(event.traceparent)
    assert int(event.traceparent[-2:], 16) & 1  # sampled


@pytest.mark.django_db
def test_a_relayed_event_is_handed_on_in_the_trace_of_its_request_not_of_the_relay(spans):
    with tracing.span("POST /v1/orders", parent="") as request:
        event = recording.record(type="webhook.test", subject="endpoint/1", data={"endpoint_id": "1", "message": "m"})
    Event.objects.update(relay_at=event.created_at)
    headers = []

    def published(**kwargs):
        headers.append(kwargs["headers"])

    before_task_publish.connect(published, weak=False)  # after the instrumentation's: its header is in
    try:
        with tracing.span("run/events.relay_undispatched_events", parent="") as tick:
            assert tasks.relay_undispatched_events() == 1
    finally:
        before_task_publish.disconnect(published)

    (message,) = headers
    assert trace_id(message["traceparent"]) == f"{request.context.trace_id:032x}" != f"{tick.context.trace_id:032x}"
    (producer,) = [span for span in spans.get_finished_spans() if span.kind == SpanKind.PRODUCER]
    assert producer.context.trace_id == request.context.trace_id


@pytest.mark.django_db
def test_an_events_later_hops_are_spans_of_its_trace_and_a_batch_links_the_traces_of_the_others(spans):
    first, second = (
        recording.record(type="webhook.test", subject="endpoint/1", data={"endpoint_id": "1", "message": m})
        for m in ("a", "b")
    )  # outside any span: each in a trace of its own
    first.traceparent = first.traceparent[:-2] + "01"  # sampled, as a request's would be

    with events_tracing.span_for(first, "publish webhook.test") as span:
        headers = events_tracing.message_headers(first, span)
    assert f"{span.parent.trace_id:032x}" == trace_id(first.traceparent) == trace_id(headers["traceparent"])
    assert span_id(headers["traceparent"]) == f"{span.context.span_id:016x}"  # a consumer's parent: this span
    assert span.attributes["petstore.event.id"] == str(first.id)

    with events_tracing.span_for_batch([first, second], "publish 2 events") as batch:
        pass
    assert f"{batch.context.trace_id:032x}" == trace_id(first.traceparent)
    assert [f"{link.context.trace_id:032x}" for link in batch.links] == [trace_id(second.traceparent)]


@pytest.mark.django_db
def test_with_tracing_off_an_events_hops_make_no_span_and_messages_carry_its_traceparent():
    event = recording.record(type="webhook.test", subject="endpoint/1", data={"endpoint_id": "1", "message": "m"})
    with events_tracing.span_for(event, "publish webhook.test") as span:
        assert span is None
        assert events_tracing.message_headers(event, span) == {"traceparent": event.traceparent}


class Collector:
    """An OTLP/HTTP collector on loopback: the spans the worker exports, decoded."""

    def __init__(self, server: HTTPServer):
        self.server = server
        self.spans: list = []
        server.expect_request("/v1/traces", method="POST").respond_with_handler(self._receive)

    def _receive(self, request: Request) -> Response:
        body = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                self.spans += [(service, span) for span in scope_spans.spans]
        return Response(b"", status=200, content_type="application/x-protobuf")

    def named(self, name: str) -> list:
        return [span for _, span in self.spans if span.name == name]


@pytest.fixture
def collector():
    server = HTTPServer(threaded=True)
    server.start()
    yield Collector(server)
    server.clear()
    server.stop()


@pytest.fixture(params=["threads", "prefork"])
def traced_worker(request, worker_processes, worker_env, collector, transactional_db, tmp_path):
    """A real worker process of its own (the session's does not trace), exporting to `collector`:
    in the threads pool it traces in its main process, in the prefork pool in each child."""
    worker_processes.stop()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # no message left by another test
    processes = Processes(
        env={
            **worker_env,
            "CELERY_WORKER_POOL": request.param,
            # Under prefork, Celery's Django fix-up closes the PostgreSQL pool after every task, under
            # the feet of the sender's recording thread (a failed recording, the attempt made again
            # when its lease ends), so the worker refuses prefork with a pool (core/workers.py).
            **({"DATABASE_POOL_SIZE": "0"} if request.param == "prefork" else {}),
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.server.url_for(""),
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second, not five
        },
        logs=tmp_path,
    )
    try:
        processes.start_workers(concurrency=2)
        yield processes
    finally:
        processes.stop_all()


@pytest.mark.worker
def test_one_trace_from_the_order_request_through_the_worker_to_each_webhook_attempt(
    spans, traced_worker, collector, customer, pet, receiver
):
    headers = {}

    def receive(request: Request) -> Response:
        envelope = Webhook(secret).verify(request.get_data(), dict(request.headers))
        headers[envelope["type"]] = request.headers.get("traceparent")
        return Response(status=204)

    receiver.expect_request("/hook").respond_with_handler(receive)
    subscribed = customer.client.post(
        "/v1/webhooks",
        {"url": receiver.url_for("/hook"), "events": ["order.created", "order.completed"]},
        format="json",
    )
    secret = subscribed.json()["secret"]
    spans.clear()

    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    eventually(lambda: Delivery.objects.filter(status="succeeded").count() == 2, message="both deliveries")
    (request_span,) = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    trace = request_span.context.trace_id.to_bytes(16, "big")

    # Each attempt continues the request's trace: order.created was dispatched from the request's
    # commit, order.completed recorded by the worker's payment step, itself caused by the request.
    assert {trace_id(traceparent) for traceparent in headers.values()} == {trace.hex()}, headers
    attempts = eventually(lambda: len(collector.named("POST webhook")) == 2 and collector.named("POST webhook"))
    assert {span.trace_id for span in attempts} == {trace}
    assert {span.span_id.hex() for span in attempts} == {span_id(traceparent) for traceparent in headers.values()}
    assert {span.kind for span in attempts} == {OtlpSpan.SPAN_KIND_CLIENT}

    # The work between them, in the worker, is of the same trace: the dispatch task, and the
    # payment step it took itself; the dispatch task's parent is the message this process
    # published once the request's transaction committed.
    tasks_run = eventually(
        lambda: (
            all(collector.named(name) for name in ("run/events.dispatch_event", "step/charge_payment"))
            and collector.named("run/events.dispatch_event") + collector.named("step/charge_payment")
        )
    )
    assert {span.trace_id for span in tasks_run} == {trace}
    (publish,) = [span for span in spans.get_finished_spans() if span.name == "apply_async/events.dispatch_event"]
    (dispatch,) = collector.named("run/events.dispatch_event")
    assert dispatch.parent_span_id == publish.context.span_id.to_bytes(8, "big")
    assert publish.parent.span_id == request_span.context.span_id
    assert {service for service, _ in collector.spans} == {"petstore-worker"}
    assert Event.objects.filter(subject=f"order/{order_id}").exclude(traceparent__contains=trace.hex()).count() == 0
