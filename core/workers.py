"""Which pools a Celery worker may run on."""

from collections.abc import Mapping

from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadsPool


def refusal(*, pool_cls, databases: Mapping[str, dict]) -> str | None:
    """Why the worker must not start on this pool, or None when it may.

    A worker process runs the webhook sender's threads beside its tasks, and they use the database
    while tasks come and go. Under the threads and solo pools Celery's Django fix-up closes only
    the task's own connection after each task. Under prefork it closes the process's whole
    PostgreSQL connection pool (Celery 5.5), under the feet of the sender's recording thread:
    its attempts would go unrecorded and be sent again when their leases end. Prefork is safe
    without a pool (each thread then has a connection of its own). Other pools (eventlet, gevent)
    replace the threads the sender relies on, and are not supported."""
    pool = get_implementation(pool_cls)
    if issubclass(pool, ThreadsPool | SoloPool):
        return None
    if issubclass(pool, PreforkPool):
        if not any(database.get("OPTIONS", {}).get("pool") for database in databases.values()):
            return None
        return (
            "the prefork pool with a PostgreSQL connection pool is refused: Celery closes the process's pool "
            "after every task, under the webhook sender's recording thread. Use the default threads pool "
            "(CELERY_WORKER_POOL=threads), or set DATABASE_POOL_SIZE=0 to run prefork without a pool."
        )
    return (
        f"the {pool.__module__.rsplit('.', 1)[-1]} pool is not supported: the webhook sender needs real "
        "threads. Use the default threads pool (CELERY_WORKER_POOL=threads), solo, or prefork."
    )
