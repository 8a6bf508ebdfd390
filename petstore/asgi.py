"""The web entry point the run command serves: `gunicorn petstore.asgi -c python:petstore.gunicorn`
(uvicorn workers).

Two doors into one Django project:

- `GET /v1/events/stream` goes through Django's ASGI handler to an async view (`events.stream`):
  an open stream waits on the event loop and holds no thread.
- Every other path goes to the WSGI application on a pool of WEB_THREADS threads (a2wsgi), as
  under a threaded gunicorn. Django's ASGI handler runs a sync view through `sync_to_async` with a
  new thread per request; measured on `POST /v1/orders`, that cost about a quarter of the intake,
  and this door costs nothing measurable (README, *The live event stream*).

Around the stream: a body chunk the client does not take within EVENT_STREAM_SEND_TIMEOUT seconds
ends the response, so a reader that stops reading is disconnected instead of holding its stream,
its slot and server buffers for ever.
"""

import asyncio
import os

from a2wsgi import WSGIMiddleware
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petstore.settings")

from petstore import tracing

tracing.setup(service_name="petstore-api")  # before either handler loads the middleware it instruments
django_asgi = get_asgi_application()

from django.conf import settings  # noqa: E402 - once the settings are configured

django_wsgi = WSGIMiddleware(get_wsgi_application(), workers=settings.WEB_THREADS)
STREAM_PATH = "/v1/events/stream"


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == STREAM_PATH:
        return await _stream_with_deadline(scope, receive, send)
    if scope["type"] == "http":
        return await django_wsgi(scope, receive, send)
    return await django_asgi(scope, receive, send)  # lifespan


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

    await django_asgi(scope, receive_or_cut_off, send_within_deadline)
