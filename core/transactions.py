"""A transaction whose last statements travel with its COMMIT."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

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
    error in them surfaces at the COMMIT, which it undoes. The on-commit hooks run before the
    pipeline ends: a statement of theirs runs in it too, answered when read. Elsewhere `last`
    simply runs last.
    """
    with ExitStack() as after_the_commit, transaction.atomic():
        yield
        if connection.vendor == "postgresql":
            # Left as the commit ends (on commit hooks included), on the stack outside the atomic block.
            after_the_commit.enter_context(connection.connection.pipeline())
        last()


def sent_with_the_commit() -> bool:
    """Whether a statement run now goes with the COMMIT (in `atomic_ending_with`'s `last`): what it
    returns can be read only once the transaction has committed."""
    return connection.vendor == "postgresql" and connection.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF
