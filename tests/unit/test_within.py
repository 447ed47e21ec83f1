"""within.run_within: independent calls side by side, given up when their time is over."""

from __future__ import annotations

import threading
import time

from status_writer.within import run_within


def test_results_come_back_in_call_order() -> None:
    # GIVEN calls that finish in reverse order WHEN run THEN the results are in call order
    calls = [lambda delay=delay: (time.sleep(delay), delay)[1] for delay in (0.03, 0.02, 0.01)]
    assert run_within(calls, limit_s=2.0) == [0.03, 0.02, 0.01]


def test_calls_run_side_by_side_not_one_after_another() -> None:
    # GIVEN ten calls of 0.2 s each WHEN run with a 1 s limit THEN all finish (in ~0.2 s, not 2 s)
    started = time.monotonic()
    results = run_within([lambda: time.sleep(0.2) or 1 for _ in range(10)], limit_s=1.0)
    assert results == [1] * 10
    assert time.monotonic() - started < 0.9


def test_a_call_still_running_at_the_limit_counts_as_not_done() -> None:
    # GIVEN one quick call and one that blocks until released
    release = threading.Event()
    started = time.monotonic()
    # WHEN run with a 0.2 s limit THEN the quick one's result stands, the other is None, on time
    results = run_within([lambda: "quick", lambda: release.wait(5) and "slow"], limit_s=0.2)
    release.set()
    assert results == ["quick", None]
    assert time.monotonic() - started < 1.0


def test_every_call_too_slow_means_nothing_done() -> None:
    # GIVEN only calls that outlast the limit (the all-fail case) THEN every result is None
    release = threading.Event()
    results = run_within([lambda: release.wait(5) for _ in range(3)], limit_s=0.1)
    release.set()
    assert results == [None, None, None]


def test_no_calls_and_no_limit() -> None:
    assert run_within([], limit_s=0.0) == []
    assert run_within([lambda: 7], limit_s=None) == [7]
