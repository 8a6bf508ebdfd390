from collections.abc import Callable, Iterator

import pytest

from tests.hostile.receivers import Behaviour, HostileReceiver


@pytest.fixture
def hostile() -> Iterator[Callable[[Behaviour], HostileReceiver]]:
    """Start hostile receivers on loopback; all are stopped after the test."""
    started: list[HostileReceiver] = []

    def start(behaviour: Behaviour) -> HostileReceiver:
        started.append(HostileReceiver(behaviour))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def timeout(settings) -> float:
    """A short WEBHOOK_TIMEOUT, so that a trickling receiver would outlast it many times over."""
    settings.WEBHOOK_TIMEOUT = 2
    return 2
