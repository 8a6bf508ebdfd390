"""The product as separate processes, for the benchmarks and the tests: gunicorn, Celery workers and
beat, a private Redis, loopback receivers and a TCP proxy to cut, started, supervised and stopped in one place.

A development tool, not a Django app: it knows the product only by its command lines
(`manage.py`, `petstore.asgi`, `celery -A petstore`) and imports nothing of it.
"""

from harness.processes import (
    PYTHON,
    ROOT,
    CommandFailed,
    HarnessError,
    NotReady,
    Processes,
    free_port,
    fresh_database,
    port_open,
    wait_for,
)
from harness.receiver import LoopbackServer, QuietHandler
from harness.tcp_proxy import TcpProxy

__all__ = [
    "PYTHON",
    "ROOT",
    "CommandFailed",
    "HarnessError",
    "LoopbackServer",
    "NotReady",
    "Processes",
    "QuietHandler",
    "TcpProxy",
    "free_port",
    "fresh_database",
    "port_open",
    "wait_for",
]
