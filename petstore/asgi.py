"""The web entry point the run command serves: `gunicorn petstore.asgi -c python:petstore.gunicorn`
(uvicorn workers).

Two doors into one Django project:

- `GET /v1/events/stream` (and the portal's `/portal/events/stream`) goes through Django's ASGI
  handler to a streaming response (`events.stream.live`): an open stream waits on the event loop
  and holds no thread. The handler runs the request's synchronous part (middleware, the view's
  checks) on the process's one thread for such code, not on a thread of the request's own that
  would idle as long as the stream stays open; the stream's looks run on the shared pool. At most
  MAX_EVENT_STREAMS_PER_PROCESS streams are open in a process: one more is a 503 before any work.
- Every other path goes to the WSGI application on a pool of WEB_THREADS threads (a2wsgi), as
  under a threaded gunicorn. Django's ASGI handler runs a sync view through `sync_to_async` with a
  new thread per request; measured on `POST /v1/orders`, that cost about a quarter of the intake,
  and this door costs nothing measurable (docs/architecture.md, *The live event stream*).

Around the stream: a body chunk the client does not take within EVENT_STREAM_SEND_TIMEOUT seconds
ends the response, so a reader that stops reading is disconnected instead of holding its stream,
its slot and server buffers for ever.
"""

import asyncio
import json
import os

from a2wsgi import WSGIMiddleware
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petstore.settings")

from petstore import tracing

tracing.setup(service_name="petstore-api")  # before either handler loads the middleware it instruments
django_asgi = get_asgi_application()

from django.conf import settings  # noqa: E402 - once the settings are configured

from core.problems import PROBLEM_CONTENT_TYPE, problem  # noqa: E402

django_wsgi = WSGIMiddleware(get_wsgi_application(), workers=settings.WEB_THREADS)
STREAM_PATHS = {"/v1/events/stream", "/portal/events/stream"}  # the API's and the portal's live tail


class StreamHandler(ASGIHandler):
    """Django's ASGI handler without a thread-sensitive context per request: the request's
    synchronous code runs on asgiref's one shared thread instead of a thread of its own."""

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


stream_handler = StreamHandler()
open_streams = 0  # in this process; the event loop is single-threaded, so a plain count


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] in STREAM_PATHS:
        return await _stream_within_process_cap(scope, receive, send)
    if scope["type"] == "http":
        return await django_wsgi(scope, receive, send)
    return await django_asgi(scope, receive, send)  # lifespan


async def _stream_within_process_cap(scope, receive, send):
    global open_streams
    if open_streams >= settings.MAX_EVENT_STREAMS_PER_PROCESS:
        return await _refuse_stream(send)
    open_streams += 1
    try:
        await _stream_with_deadline(scope, receive, send)
    finally:
        open_streams -= 1


async def _refuse_stream(send):
    body = problem(
        status=503,
        code="stream-capacity-reached",
        title="No room for another event stream here",
        detail=f"This server process holds {settings.MAX_EVENT_STREAMS_PER_PROCESS} event streams, the most it "
        "may; try again shortly (another process may have room).",
    )
    headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode()), (b"retry-after", b"5")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _stream_with_deadline(scope, receive, send):
    cut_off = asyncio.Event()

    async def send_within_deadline(message):
        if cut_off.is_set():
            return  # dropped, without a pause: the cancellation below lands inside the stream
        try:
            await asyncio.wait_for(send(message), settings.EVENT_STREAM_SEND_TIMEOUT)
        except TimeoutError:
            cut_off.set()

    async def receive_or_cut_off():
        # Once cut off, the request reads as disconnected: Django cancels the response, the stream
        # gives back its slot, and the server closes the connection it did not complete.
        if cut_off.is_set():
            return {"type": "http.disconnect"}
        receiving = asyncio.ensure_future(receive())
        cutting = asyncio.ensure_future(cut_off.wait())
        done, _ = await asyncio.wait({receiving, cutting}, return_when=asyncio.FIRST_COMPLETED)
        if receiving in done:
            cutting.cancel()
            return receiving.result()
        receiving.cancel()
        return {"type": "http.disconnect"}

    await stream_handler(scope, receive_or_cut_off, send_within_deadline)
