"""A transaction whose last statements travel with its COMMIT."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from psycopg import pq


@contextmanager
def atomic_ending_with(last: Callable[[], None]) -> Iterator[None]:
    """`transaction.atomic()`, with `last` run once its block has succeeded, as it commits.

    On PostgreSQL the statements `last` runs and the COMMIT go in one round trip (psycopg's
    pipeline mode): a row they lock, one that every transaction of a flash sale needs, is held for
    the server's time alone, not for a round trip to this process and back and then its wait for
    a turn on a busy CPU. Nothing they return has come back while `last` runs: reading it would
    wait for it (`sent_with_the_commit()` says when to read it after the commit instead), and an
    error in them surfaces by the COMMIT at the latest, and undoes the whole transaction. The
    pipeline ends as soon as the COMMIT has answered, before the on-commit hooks run. Inside
    another transaction, whose COMMIT is not this block's, and on SQLite, `last` simply runs last.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with transaction.atomic():
            yield
            last()
        return
    with transaction.atomic():
        yield
        raw = connection.connection
        # Leaving the pipeline sends a Sync and reads every answer, however many came back early:
        # psycopg's own commit() can raise on the first of them and leave the rest for the rollback
        # that follows, which then fails and gets the connection thrown away.
        with connection.wrap_database_errors, raw.pipeline():
            last()
            raw.execute("COMMIT", prepare=False)
    # Django's commit now finds the transaction over, and runs the on-commit hooks.


def sent_with_the_commit() -> bool:
    """Whether a statement run now goes with the COMMIT (in `atomic_ending_with`'s `last`): what it
    returns can be read only once the transaction has committed."""
    return connection.vendor == "postgresql" and connection.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF
