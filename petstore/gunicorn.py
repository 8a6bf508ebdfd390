"""gunicorn's settings for the run command (`gunicorn petstore.wsgi -c python:petstore.gunicorn`)."""

from prometheus_client import multiprocess

bind = "127.0.0.1:8000"
workers = 2
threads = 4
accesslog = "-"


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)  # its gauges leave /metrics with it
