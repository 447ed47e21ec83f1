"""rate_limit: reading X-HubSpot-RateLimit-* headers and pacing calls with an injected clock."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from status_writer.rate_limit import DEFAULT_INTERVAL_S, RateLimitPacer, RateLimitReport


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def headers(maximum: Any = "100", remaining: Any = "50", interval: Any = "10000") -> dict[str, str]:
    values = {
        "x-hubspot-ratelimit-max": maximum,
        "x-hubspot-ratelimit-remaining": remaining,
        "x-hubspot-ratelimit-interval-milliseconds": interval,
    }
    return {name: value for name, value in values.items() if value is not None}


def pacer_with(
    clock: Clock, maximum: int = 100, remaining: int = 50, interval_s: float = 10.0
) -> RateLimitPacer:
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    pacer.observe(RateLimitReport(maximum=maximum, remaining=remaining, interval_s=interval_s))
    return pacer


# --- RateLimitReport.from_headers -------------------------------------------------------------------


def test_report_from_the_three_headers() -> None:
    assert RateLimitReport.from_headers(headers("190", "7", "10000")) == RateLimitReport(190, 7, 10.0)


def test_report_from_httpx_headers_whatever_case_hubspot_sends() -> None:
    # GIVEN the headers as HubSpot spells them, in httpx's case-insensitive Headers
    response_headers = httpx.Headers(
        {
            "X-HubSpot-RateLimit-Max": "110",
            "X-HubSpot-RateLimit-Remaining": "109",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Daily": "250000",
        }
    )
    # WHEN read THEN the lower-case lookups find them
    assert RateLimitReport.from_headers(response_headers) == RateLimitReport(110, 109, 10.0)


@pytest.mark.parametrize(
    "values",
    [
        {},
        headers(maximum=None),
        headers(remaining=None),
        headers(maximum="lots"),
        headers(remaining="1.5"),
        headers(maximum=""),
        headers(maximum="0"),
        headers(maximum="-10"),
        headers(interval="0"),
        headers(interval="-10000"),
    ],
)
def test_missing_or_garbled_headers_give_no_report(values: dict[str, str]) -> None:
    assert RateLimitReport.from_headers(values) is None


def test_capitalised_keys_in_a_plain_dict_are_not_found() -> None:
    # httpx lower-cases; a plain dict with HubSpot's spelling is not what the client passes
    assert (
        RateLimitReport.from_headers({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "1"})
        is None
    )


@pytest.mark.parametrize("interval", [None, "", "ten seconds"])
def test_missing_or_garbled_interval_falls_back_to_ten_seconds(interval: str | None) -> None:
    report = RateLimitReport.from_headers(headers(interval=interval))
    assert report is not None
    assert report.interval_s == DEFAULT_INTERVAL_S


def test_negative_remaining_is_read_as_zero() -> None:
    report = RateLimitReport.from_headers(headers(remaining="-3"))
    assert report is not None
    assert report.remaining == 0


# --- RateLimitPacer ---------------------------------------------------------------------------------


def test_without_any_report_calls_go_at_once() -> None:
    pacer = RateLimitPacer(clock=Clock(), jitter=lambda: 0.0)
    assert [pacer.delay() for _ in range(20)] == [0.0] * 20


def test_go_while_remaining_is_ample_then_wait_at_the_reserve() -> None:
    # GIVEN a fresh report with 5 requests left and the default reserve of 1
    clock = Clock()
    pacer = pacer_with(clock, maximum=100, remaining=5)
    clock.advance(0.1)
    # WHEN calls are asked for without time moving
    delays = [pacer.delay() for _ in range(6)]
    # THEN four go (the fifth slot stays in reserve), then it waits
    assert delays[:4] == [0.0] * 4
    assert delays[4] > 0
    assert delays[5] > 0


def test_exhausted_window_waits_about_two_slots_with_jitter() -> None:
    # GIVEN 0 remaining, 100 per 10 s: one slot is 0.1 s
    clock = Clock()
    pacer = pacer_with(clock, maximum=100, remaining=0)
    clock.advance(0.01)
    # THEN the wait is two slots, stretched by up to half of it by jitter
    assert pacer.delay() == pytest.approx(0.2)
    jittery = RateLimitPacer(clock=clock, jitter=lambda: 1.0)
    jittery.observe(RateLimitReport(100, 0, 10.0))
    assert jittery.delay() == pytest.approx(0.3)


def test_stale_report_lets_the_call_go() -> None:
    # GIVEN an exhausted report WHEN one interval has passed since it THEN calls go again
    clock = Clock()
    pacer = pacer_with(clock, remaining=0, interval_s=10.0)
    clock.advance(9.99)
    assert pacer.delay() > 0
    clock.advance(0.02)
    assert pacer.delay() == 0.0


def test_own_slots_free_one_interval_after_they_were_used() -> None:
    # GIVEN a call started at t=0, then a report at t=1 saying 1 left (our call included)
    clock = Clock(0.0)
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    assert pacer.delay() == 0.0
    clock.advance(1.0)
    pacer.observe(RateLimitReport(maximum=10, remaining=1, interval_s=10.0))
    # WHEN asking at t=5 THEN it waits until our own call ages out at t=10 (or two slots, 2 s)
    clock.advance(4.0)
    assert pacer.delay() == pytest.approx(2.0)
    clock.advance(4.0)  # t=9: one second until our slot frees
    assert pacer.delay() == pytest.approx(1.0)
    # AND at t=10 (report still fresh: 9 s old) the freed slot lets the call go
    clock.advance(1.0)
    assert pacer.delay() == 0.0


def test_calls_started_after_the_report_count_against_it() -> None:
    clock = Clock()
    pacer = pacer_with(clock, remaining=3)
    clock.advance(0.5)
    assert pacer.delay() == 0.0
    assert pacer.delay() == 0.0
    assert pacer.delay() > 0  # 3 - 2 = 1 left, which is the reserve
    # a newer report with room resets the count
    pacer.observe(RateLimitReport(maximum=100, remaining=50, interval_s=10.0))
    clock.advance(0.1)
    assert pacer.delay() == 0.0


def test_observing_none_keeps_the_previous_report() -> None:
    clock = Clock()
    pacer = pacer_with(clock, remaining=0)
    pacer.observe(None)
    clock.advance(0.1)
    assert pacer.delay() > 0


def test_block_for_stops_every_call_until_it_ends() -> None:
    # GIVEN plenty of room, then a 429 that blocks for 2 s
    clock = Clock()
    pacer = pacer_with(clock, remaining=100)
    pacer.block_for(2.0)
    # WHEN asking during the block THEN the answer is the time left in it
    assert pacer.delay() == pytest.approx(2.0)
    clock.advance(1.5)
    assert pacer.delay() == pytest.approx(0.5)
    # AND a shorter block does not shorten it
    pacer.block_for(0.1)
    assert pacer.delay() == pytest.approx(0.5)
    clock.advance(0.5)
    assert pacer.delay() == 0.0


def test_block_for_applies_without_any_report() -> None:
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    pacer.block_for(10.0)
    assert pacer.delay() == pytest.approx(10.0)


def test_a_higher_reserve_keeps_more_slots_back() -> None:
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0, reserve=3)
    pacer.observe(RateLimitReport(maximum=100, remaining=5, interval_s=10.0))
    clock.advance(0.1)
    assert [pacer.delay() == 0.0 for _ in range(4)] == [True, True, False, False]


@pytest.mark.parametrize("remaining", [0, 1, 2, 10, 40])
def test_many_threads_never_take_more_than_the_report_allows(remaining: int) -> None:
    # GIVEN one fresh report and a clock that does not move
    clock = Clock()
    pacer = pacer_with(clock, maximum=100, remaining=remaining)
    clock.advance(0.1)
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        mine = sum(1 for _ in range(25) if pacer.delay() == 0.0)
        with lock:
            granted.append(mine)

    # WHEN 16 threads ask 25 times each at once
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly the slots above the reserve were handed out, never more than remained
    assert sum(granted) == max(0, remaining - 1)
    assert sum(granted) <= remaining


def test_own_call_history_stays_bounded_without_rate_limit_headers() -> None:
    # GIVEN responses that never carry rate-limit headers, and one call a second for an hour
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    for _ in range(3600):
        assert pacer.delay() == 0.0
        pacer.observe(None)
        clock.advance(1.0)
    # THEN the pacer remembers only the calls that can still matter (about two intervals' worth)
    assert len(pacer._own_starts) <= 2 * DEFAULT_INTERVAL_S + 1
    # AND a report arriving now is still paced against the recent calls it may not include
    pacer.observe(RateLimitReport(maximum=100, remaining=2, interval_s=10.0))
    clock.advance(0.1)
    assert pacer.delay() == 0.0
    assert pacer.delay() > 0


# --- reports stamped with their request's send time ---------------------------------------------------


def test_calls_started_after_the_reported_request_left_count_against_its_remainder() -> None:
    # GIVEN a request sent at t0, then two more calls started before its answer (Remaining 3) arrives
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0, reserve=0)
    assert pacer.delay() == 0.0
    sent_at = pacer.now()
    clock.advance(0.01)
    assert pacer.delay() == 0.0
    assert pacer.delay() == 0.0
    clock.advance(0.01)
    # WHEN the answer arrives, stamped with its request's send time
    pacer.observe(RateLimitReport(maximum=10, remaining=3, interval_s=10.0), sent_at=sent_at)
    # THEN only one more call may start: HubSpot had not seen the two started after t0
    assert pacer.delay() == 0.0
    assert pacer.delay() > 0.0


def test_a_late_report_about_an_older_request_is_ignored() -> None:
    # GIVEN a report about a request sent at t1 is known
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0, reserve=0)
    older = pacer.now()
    clock.advance(1.0)
    newer = pacer.now()
    pacer.observe(RateLimitReport(maximum=10, remaining=9, interval_s=10.0), sent_at=newer)
    # WHEN the answer to an earlier request arrives afterwards saying nothing is left
    pacer.observe(RateLimitReport(maximum=10, remaining=0, interval_s=10.0), sent_at=older)
    # THEN the newer picture stands: calls may start
    assert pacer.delay() == 0.0
