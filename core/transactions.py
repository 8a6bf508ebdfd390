"""A transaction whose last statements travel with its COMMIT."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from django.db import connection, transaction


@contextmanager
def atomic_ending_with(last: Callable[[], None]) -> Iterator[None]:
    """`transaction.atomic()`, with `last` run once its block has succeeded, as it commits.

    On PostgreSQL the statements `last` runs and the COMMIT go in one round trip (psycopg's
    pipeline mode): a row they lock, one that every transaction of a flash sale needs, is held for
    the server's time alone, not for a round trip to this process and back and then its wait for
    a turn on a busy CPU. `last` must not read what its statements return: nothing has come back
    yet (an error in them surfaces at the COMMIT, and undoes the whole transaction). Elsewhere
    `last` simply runs last.
    """
    with ExitStack() as after_the_commit, transaction.atomic():
        yield
        if connection.vendor == "postgresql":
            # Left as the commit ends (on commit hooks included), on the stack outside the atomic block.
            after_the_commit.enter_context(connection.connection.pipeline())
        last()
