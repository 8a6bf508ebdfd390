"""The bench's load generators report what happened: a rate is completions over wall time, an
open-loop call is timed from when it was due, and a load that falls behind says so."""

import time

from bench.load import burst, paced


def test_a_paced_load_that_cannot_keep_up_says_so_and_counts_the_wait_for_a_client():
    load = paced(100, 1, lambda: time.sleep(0.05), threads=2, grace=0.5)  # 2 clients: 40 calls/s at most
    assert load.behind
    assert load.achieved < 50
    assert load.unsent > 0  # those a client reached after the schedule and its grace
    assert load.verdict().startswith("behind: offered 100/s, achieved ")
    assert max(load.latencies_ms) > 500  # from its due time: the wait for a free client counts


def test_a_paced_load_that_keeps_up_holds_its_rate():
    load = paced(50, 1, lambda: "ok", threads=4)
    assert (len(load.calls), load.unsent, load.verdict()) == (50, 0, "")
    assert 47.5 <= load.achieved <= 60
    assert all(call.result == "ok" and call.start >= call.due - 0.001 for call in load.calls)


def test_a_burst_sends_each_call_once_from_closed_loop_clients():
    numbers = []
    done = burst(20, 4, lambda number: numbers.append(number) or time.sleep(0.01))
    assert sorted(numbers) == list(range(20)) and len(done.calls) == 20
    assert 0.04 <= done.elapsed < 1  # 20 calls of 10 ms over 4 clients: about 50 ms
