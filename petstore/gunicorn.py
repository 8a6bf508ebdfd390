"""gunicorn's settings for the run command (`gunicorn petstore.asgi -c python:petstore.gunicorn`).

uvicorn workers serve Django through ASGI, so that an open event stream waits on the event loop
instead of holding a worker thread (README, *The live event stream*, says what that costs the API).
"""

from prometheus_client import multiprocess

bind = "127.0.0.1:8000"
workers = 2
worker_class = "uvicorn_worker.UvicornWorker"
accesslog = "-"


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)  # its gauges leave /metrics with it
