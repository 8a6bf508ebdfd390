"""gunicorn's settings for the run command (`gunicorn petstore.asgi -c python:petstore.gunicorn`).

uvicorn workers serve Django through ASGI, so that an open event stream waits on the event loop
instead of holding a worker thread (docs/architecture.md, *The live event stream*, says what that costs the API).
"""

import os

from prometheus_client import multiprocess
from uvicorn_worker import UvicornWorker as _UvicornWorker

bind = "127.0.0.1:8000"
workers = 2
worker_class = "petstore.gunicorn.UvicornWorker"
accesslog = "-"
# Seconds an idle keep-alive connection stays open (uvicorn's default is 5): longer than clients'
# pools keep one (httpx: 5 s) and load balancers' idle timeouts (AWS ALB: 60 s), so the server is
# never the side closing a connection just as a client reuses it.
keepalive = 75


class UvicornWorker(_UvicornWorker):
    """uvicorn without its own X-Forwarded-For handling, which believes any request from
    127.0.0.1 (`forwarded_allow_ips`): REMOTE_ADDR stays the socket's, and only
    `core.client_address` reads X-Forwarded-For, as TRUSTED_PROXY_COUNT says."""

    CONFIG_KWARGS = {**_UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # without it there are no per-process files
        multiprocess.mark_process_dead(worker.pid)  # its gauges leave /metrics with it
