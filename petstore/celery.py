"""The Celery app: configured from Django settings under the CELERY_ namespace."""

import functools
import inspect
import os

from celery import Celery
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import task_prerun, worker_init, worker_process_init, worker_process_shutdown

from core import log_context, workers
from petstore import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petstore.settings")

app = Celery("petstore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

WORKER_SERVICE = "petstore-worker"


@task_prerun.connect
def bind_task_log_context(task, args, kwargs, **_) -> None:
    """Each task starts a fresh log context with the id it was given (order_id, event_id, …)."""
    parameters = _parameters(task.name)
    given = dict(zip(parameters, args, strict=False)) | kwargs
    log_context.start(**{name: value for name, value in given.items() if name in log_context.FIELDS})


@functools.cache  # inspecting a signature on every task cost 3 % of a busy worker
def _parameters(task_name: str) -> list[str]:
    return list(inspect.signature(app.tasks[task_name].run).parameters)


@worker_init.connect
def refuse_unsafe_pools(sender, **_) -> None:
    """Stop at start, with the reason, on a pool the worker cannot run safely (`core.workers`)."""
    from django.conf import settings

    if reason := workers.refusal(pool_cls=sender.pool_cls, databases=settings.DATABASES):
        raise SystemExit(f"petstore worker: {reason}")  # not an Exception: Celery's signal would log and go on


@worker_init.connect
def trace_the_worker(sender, **_) -> None:
    """Tracing in the process that runs the tasks: this one, unless a prefork pool forks them."""
    if not issubclass(get_implementation(sender.pool_cls), PreforkPool):
        tracing.setup(service_name=WORKER_SERVICE)


@worker_process_init.connect
def trace_the_pool_process(**_) -> None:
    tracing.setup(service_name=WORKER_SERVICE)


@worker_process_shutdown.connect
def flush_the_pool_process_spans(**_) -> None:
    tracing.flush()
