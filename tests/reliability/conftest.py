from dataclasses import dataclass, field

import pytest


@dataclass
class Figures:
    rows: list[dict] = field(default_factory=list)

    def add(self, scenario: str, *, orders: int, faults: int, lost: int, duplicates: int, drain: float, stack) -> None:
        if stack.unexpected_exits:
            scenario += f" ({stack.unexpected_exits} worker exit(s) restarted by the supervisor)"
        self.rows.append(
            {
                "scenario": scenario,
                "orders": orders,
                "faults": faults,
                "lost": lost,
                "duplicates": duplicates,
                "drain": f"{drain:.1f} s",
            }
        )

    def table(self) -> str:
        header = "| scenario | orders | faults injected | lost | duplicate deliveries | time to drain |"
        lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [
            f"| {r['scenario']} | {r['orders']} | {r['faults']} | {r['lost']} | {r['duplicates']} | {r['drain']} |"
            for r in self.rows
        ]
        return "\n".join(lines)


_figures = Figures()


@pytest.fixture(autouse=True)
def _no_session_workers(worker_processes):
    """The stack under test is the only one at work on the database: the session's worker and
    beat would take part in its orders (with a Redis and a payment ledger of their own)."""
    worker_processes.stop()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _figures


def pytest_terminal_summary(terminalreporter):
    if _figures.rows:
        terminalreporter.section("reliability figures")
        terminalreporter.write_line(_figures.table())
