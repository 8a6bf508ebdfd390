"""The Celery app: configured from Django settings under the CELERY_ namespace."""

import inspect
import os

from celery import Celery
from celery.signals import task_prerun

from core import log_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petstore.settings")

app = Celery("petstore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def bind_task_log_context(task, args, kwargs, **_) -> None:
    """Each task starts a fresh log context with the id it was given (order_id, event_id, …)."""
    parameters = list(inspect.signature(task.run).parameters)
    given = dict(zip(parameters, args, strict=False)) | kwargs
    log_context.start(**{name: value for name, value in given.items() if name in log_context.FIELDS})
