"""A transaction whose last statements travel with its COMMIT."""

import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.db import connection, transaction


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: Sequence
    read: Callable[[list[tuple]], None] | None


# Inside `atomic_ending_with`'s `last`, where the COMMIT can take statements with it: those queued.
_with_the_commit: contextvars.ContextVar[list[_Statement] | None] = contextvars.ContextVar(
    "with_the_commit", default=None
)


@contextmanager
def atomic_ending_with(last: Callable[[], None]) -> Iterator[None]:
    """`transaction.atomic()`, with `last` run once its block has succeeded, as it commits.

    The statements `last` hands to `send_with_the_commit()` and the COMMIT go to PostgreSQL in one
    message, one simple query of several statements: a row they lock, one that every transaction
    of a flash sale needs, is held for the server's time alone, not for a round trip to this
    process and back, its wait for a turn on a busy CPU and the GIL, and the next statement. The
    first that fails stops the rest, the COMMIT with them, and the whole transaction is rolled
    back as after any error. Inside another transaction, whose COMMIT is not this block's, on
    SQLite, and with server-side binding (whose statements go one by one), they simply run last.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        yield
        if not (outermost and _client_side_binding()):
            last()
            return
        token = _with_the_commit.set(queued := [])
        try:
            last()
        finally:
            _with_the_commit.reset(token)
        if queued:
            _send_with_commit(queued)
    # Django's commit then finds the transaction over, and runs the on-commit hooks.


def send_with_the_commit(sql: str, params: Sequence = (), *, read: Callable[[list[tuple]], None] | None = None):
    """Run a statement (raw SQL with `%s` parameters) with the COMMIT, inside `atomic_ending_with`'s
    `last`, or at once anywhere else; `read`, if given, gets the rows it returned once it has run
    (with the COMMIT: once that has succeeded, before the on-commit hooks)."""
    queued = _with_the_commit.get()
    if queued is not None:
        queued.append(_Statement(sql, params, read))
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if read is not None:
            read(cursor.fetchall())


def goes_with_the_commit() -> bool:
    """Whether `send_with_the_commit()` queues its statement for the COMMIT now, rather than
    running it at once (and reading what it returns at once)."""
    return _with_the_commit.get() is not None


def _client_side_binding() -> bool:
    """Whether a query with parameters can hold several statements (psycopg's client-side binding,
    Django's default on PostgreSQL, sends it as one simple query)."""
    return connection.vendor == "postgresql" and issubclass(connection.connection.cursor_factory, psycopg.ClientCursor)


def _send_with_commit(statements: list[_Statement]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "; ".join([*(statement.sql for statement in statements), "COMMIT"]),
            [param for statement in statements for param in statement.params],
        )
        for statement in statements:
            if statement.read is not None:
                statement.read(cursor.fetchall())
            cursor.nextset()
