"""rate_limit: reading X-HubSpot-RateLimit-* headers and pacing calls with an injected clock."""

from __future__ import annotations

import sys
import threading
from typing import Any

import httpx
import pytest
from status_writer.rate_limit import (
    DEFAULT_INTERVAL_S,
    DEFAULT_MAXIMUM,
    PROBE_TIMEOUT_S,
    PROBE_WAIT_S,
    RateLimitPacer,
    RateLimitReport,
)


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
    """A pacer that knows one report, stamped now, and has made no call of its own."""
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    pacer.observe(RateLimitReport(maximum=maximum, remaining=remaining, interval_s=interval_s))
    return pacer


def rate_report(maximum: int, remaining: int, interval_s: float = 10.0) -> RateLimitReport:
    return RateLimitReport(maximum=maximum, remaining=remaining, interval_s=interval_s)


def goes(pacer: RateLimitPacer, asks: int = 1) -> int:
    """How many of ``asks`` calls asked for without time moving may go now."""
    return sum(1 for _ in range(asks) if pacer.delay() == 0.0)


def probed(
    clock: Clock, maximum: int, remaining: int, reserve: int = 1, jitter: float = 0.0
) -> RateLimitPacer:
    """A fresh environment whose probe left now and was answered 0.1 s later with ``remaining``."""
    pacer = RateLimitPacer(clock=clock, jitter=lambda: jitter, reserve=reserve)
    assert pacer.delay() == 0.0
    sent_at = pacer.now()
    clock.advance(0.1)
    pacer.observe(rate_report(maximum, remaining), sent_at=sent_at)
    return pacer


def grown(
    clock: Clock, maximum: int, calls: int, *, step: float = 0.02, reserve: int = 1, jitter: float = 0.0
) -> tuple[RateLimitPacer, float]:
    """A lone environment that made ``calls`` calls, ``step`` apart from now on, each round answered
    (nobody else busy) about its last call; returns the pacer and when its last call left, whose
    answer has not arrived yet."""
    pacer = RateLimitPacer(clock=clock, jitter=lambda: jitter, reserve=reserve)
    made, last = 0, clock.now
    while True:
        went = 0
        while made < calls and pacer.delay() == 0.0:
            made, went, last = made + 1, went + 1, pacer.now()
            clock.advance(step)
        assert went, f"stuck after {made} calls"
        if made == calls:
            return pacer, last
        pacer.observe(rate_report(maximum, maximum - made), sent_at=last)


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


# --- RateLimitPacer: probing while nothing recent is known ------------------------------------------


def test_the_first_call_probes_and_the_others_wait_for_its_answer() -> None:
    # GIVEN an environment that knows no report
    clock = Clock(0.0)
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    # WHEN four calls ask at once
    # THEN one goes (the probe) and the others look again after PROBE_WAIT_S
    assert pacer.delay() == 0.0
    sent_at = pacer.now()
    assert [pacer.delay() for _ in range(3)] == [pytest.approx(PROBE_WAIT_S)] * 3
    clock.advance(0.05)
    assert pacer.delay() == pytest.approx(PROBE_WAIT_S)
    # WHEN the probe's answer arrives: alone in a window of 10, 9 left
    pacer.observe(rate_report(10, 9), sent_at=sent_at)
    # THEN a waiting call goes at once, and only one: the share is at most our calls in the window
    assert goes(pacer, 3) == 1
    second = pacer.now()
    # AND when its answer arrives (8 left) the two others go
    clock.advance(0.1)
    pacer.observe(rate_report(10, 8), sent_at=second)
    assert goes(pacer, 3) == 2


def test_the_wait_for_the_probe_is_jittered() -> None:
    clock = Clock(0.0)
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.5)
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(PROBE_WAIT_S * 1.5)


def test_a_probe_that_does_not_answer_holds_the_others_back_only_until_the_timeout() -> None:
    # GIVEN a probe that left at t=0 and has not answered
    clock = Clock(0.0)
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    assert pacer.delay() == 0.0
    # WHEN just before the timeout THEN the others still wait
    clock.advance(PROBE_TIMEOUT_S - 0.001)
    assert pacer.delay() > 0
    # WHEN the timeout has passed THEN one more call goes: it is the new probe, the rest wait for it
    clock.advance(0.001)
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(PROBE_WAIT_S)


def test_an_answer_without_rate_limit_headers_ends_the_wait_for_the_probe() -> None:
    # GIVEN a probe answered without X-HubSpot-RateLimit-* headers
    clock = Clock(0.0)
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    assert pacer.delay() == 0.0
    clock.advance(0.1)
    pacer.observe(None, sent_at=0.0)
    # THEN the documented default window (100 per 10 s) is assumed: the next call goes at once
    assert pacer.delay() == 0.0


def test_without_rate_limit_headers_the_pacer_uses_the_default_window_to_the_full_but_not_beyond() -> None:
    # GIVEN one caller making calls back to back (50 ms each) whose answers never carry headers
    clock = Clock(0.0)
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    starts: list[float] = []
    while clock.now < 60.0:
        wait = pacer.delay()
        if wait > 0:
            clock.advance(wait)
            continue
        starts.append(clock.now)
        sent_at = pacer.now()
        clock.advance(0.05)
        pacer.observe(None, sent_at=sent_at)
    # THEN over a minute it made most of the default's 100 calls per 10 s (not ~1 a second) and no
    # rolling 10 s window ever held more than 100
    assert len(starts) >= 6 * 80, len(starts)
    assert max(sum(1 for t in starts if s <= t < s + DEFAULT_INTERVAL_S) for s in starts) <= DEFAULT_MAXIMUM


def test_a_report_older_than_one_interval_means_probing_again() -> None:
    # GIVEN a report that said nothing is left
    clock = Clock(0.0)
    pacer = pacer_with(clock, maximum=10, remaining=0, interval_s=10.0)
    # WHEN its request left less than one interval ago THEN calls wait
    clock.advance(9.99)
    assert pacer.delay() > 0
    # WHEN one interval has passed THEN the window has rolled: one call probes, the next waits for it
    clock.advance(0.01)
    assert pacer.delay() == 0.0
    sent_at = pacer.now()
    assert pacer.delay() == pytest.approx(PROBE_WAIT_S)
    # AND its answer paces the others again: one more call (our one call in the window)
    clock.advance(0.1)
    pacer.observe(rate_report(10, 9), sent_at=sent_at)
    assert goes(pacer, 10) == 1


# --- RateLimitPacer: the share of a report's free slots ----------------------------------------------


def test_alone_an_environment_doubles_its_calls_each_round_trip_up_to_the_reserve() -> None:
    # GIVEN alone in a window of 20, the probe answered: 19 left
    clock = Clock(0.0)
    pacer = probed(clock, maximum=20, remaining=19)
    made = 1
    # WHEN each round's last call is answered THEN the next round is as many calls as we have made
    for expected in [1, 2, 4, 8, 3]:  # the last round: 4 left, 3 beyond the reserve
        went = 0
        while pacer.delay() == 0.0:
            went, last = went + 1, pacer.now()
            clock.advance(0.02)
        assert went == expected
        made += went
        pacer.observe(rate_report(20, 20 - made), sent_at=last)
    assert made == 19


def _ten_calls_then(clock: Clock, maximum: int, remaining: int, jitter: float = 0.0) -> RateLimitPacer:
    """A lone environment's ten calls, 20 ms apart, then the answer to the last one with ``remaining``."""
    pacer, last = grown(clock, maximum, 10, jitter=jitter)
    clock.advance(0.1)
    pacer.observe(rate_report(maximum, remaining), sent_at=last)
    return pacer


@pytest.mark.parametrize(
    ("remaining", "share"),
    [
        (90, 10),  # nobody else busy: every free slot but the reserve, at most our 10 calls
        (30, 4),  # others use 60, this environment 10: 1 + 60/10 = 7 sharers, 2 kept back, 28 / 7
        (20, 2),  # others use 70: 8 sharers, 2 kept back, 18 / 8
        (50, 5),  # others use 40: 5 sharers, 2 kept back, 48 / 5 = 9, but others busy: half our 10 calls
        (1, 0),  # only the reserve is free
    ],
)
def test_the_free_slots_are_shared_among_the_environments_the_report_shows_busy(
    remaining: int, share: int
) -> None:
    # GIVEN an environment with 10 calls in the window, which the report about its last call counts
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=100, remaining=remaining)
    # WHEN calls ask without time moving THEN it takes its share (rounded down with no jitter), no more
    assert goes(pacer, 100) == share


@pytest.mark.parametrize(("jitter", "share"), [(0.0, 3), (0.93, 3), (0.94, 4), (0.99, 4)])
def test_the_share_is_rounded_at_random_by_the_jitter(jitter: float, share: int) -> None:
    # GIVEN a share of (25 - 2) / 7.5 = 3.07 slots THEN it is 4 when the jitter adds at least 0.94, else 3
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=100, remaining=25, jitter=jitter)
    assert goes(pacer, 100) == share


def test_the_share_is_decided_once_per_report_about_a_call_made_since_the_last_share() -> None:
    # GIVEN a share of 4, taken in full by calls 20 ms apart
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=100, remaining=30)
    reported = pacer._reported_at
    sent: list[float] = []
    for _ in range(4):
        clock.advance(0.02)
        assert pacer.delay() == 0.0
        sent.append(pacer.now())
    assert pacer.delay() > 0
    # WHEN the same report is seen again THEN it grants nothing more
    pacer.observe(rate_report(100, 30), sent_at=reported)
    assert goes(pacer, 5) == 0
    # WHEN a newer report arrives, but about a call that left before the last share call
    # THEN it shows the same free slots the others are taking too: nothing more either
    clock.advance(0.1)
    pacer.observe(rate_report(100, 28), sent_at=sent[1])
    assert goes(pacer, 5) == 0
    # WHEN the report about the last share call arrives THEN a new share is decided from it:
    # 14 calls of this environment, 61 of others: 1 + 61/14 = 5.4 sharers, 2 kept back, 23 / 5.4 = 4
    pacer.observe(rate_report(100, 25), sent_at=sent[-1])
    assert goes(pacer, 100) == 4


@pytest.mark.parametrize(
    ("aged_s", "share"),
    [
        (0.0, 4),  # as it arrived: 28 free beyond the 2 kept back, among 7 sharers
        (0.5, 3),  # the others, 60 calls per 10 s, took 3 since: 25 / 7
        (2.0, 2),  # 12 taken: 16 / 7
        (5.0, 0),  # 30 taken: nothing is left of what it showed
    ],
)
def test_a_reports_free_slots_shrink_as_it_ages_at_the_rate_the_others_are_busy(
    aged_s: float, share: int
) -> None:
    # GIVEN 30 free slots of 100 in a report that shows the others busy with 60 calls per 10 s
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=100, remaining=30)
    # WHEN calls first ask ``aged_s`` after it arrived THEN the share counts the others' calls since
    clock.advance(aged_s)
    assert goes(pacer, 100) == share


def test_an_old_report_with_nobody_else_busy_still_grants_its_free_slots() -> None:
    # GIVEN a report 5 s old that shows only this environment's own 10 calls in the window
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=100, remaining=90)
    clock.advance(5.0)
    # WHEN calls ask THEN nothing is taken off for others: a quiet deployment is not held back
    assert goes(pacer, 100) == 10


def test_an_environment_the_others_outnumber_keeps_one_more_slot_back() -> None:
    # GIVEN two free slots and a jitter that rounds every share up
    # WHEN this environment has 10 calls in the window and the others 88 THEN it keeps both back (the
    # free slots are the slack the others keep for their own reused slots)
    pacer = _ten_calls_then(Clock(0.0), maximum=100, remaining=2, jitter=0.99)
    assert goes(pacer, 10) == 0
    # AND so it does when they outnumber it only just (11 against 10: "2.1 sharers")
    pacer = _ten_calls_then(Clock(0.0), maximum=23, remaining=2, jitter=0.99)
    assert goes(pacer, 10) == 0
    # WHEN it is the only one busy (10 of 12) THEN one of the two goes, the reserve keeps the other
    pacer = _ten_calls_then(Clock(0.0), maximum=12, remaining=2, jitter=0.99)
    assert goes(pacer, 10) == 1
    # AND so it does when the others together have fewer calls than it (6 against 10)
    pacer = _ten_calls_then(Clock(0.0), maximum=18, remaining=2, jitter=0.99)
    assert goes(pacer, 10) == 1


def test_a_higher_reserve_keeps_more_slots_back() -> None:
    # GIVEN alone in a window of 20 with 10 calls of ours, and 10 left
    for reserve, share in [(0, 10), (1, 9), (3, 7), (10, 0)]:
        for jitter in (0.0, 0.99):
            clock = Clock(0.0)
            pacer, last = grown(clock, maximum=20, calls=10, reserve=reserve, jitter=jitter)
            pacer.observe(rate_report(20, 10), sent_at=last)
            # THEN the free slots beyond the reserve go, whatever the rounding jitter
            assert goes(pacer, 20) == share, (reserve, jitter)


def test_calls_started_after_the_reported_request_left_count_against_its_remainder() -> None:
    # GIVEN ten calls of ours, then a share of 10 (alone, 20 left of 30), two of them taken 0.1 s apart
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=30, remaining=20)
    assert pacer.delay() == 0.0
    sent_at = pacer.now()
    clock.advance(0.1)
    assert pacer.delay() == 0.0
    # WHEN the answer to the first of them arrives: 5 left (others took 14 meanwhile)
    clock.advance(0.1)
    pacer.observe(rate_report(30, 5), sent_at=sent_at)
    # THEN the second counts against it: 4 free, 3 beyond the reserve go (of the 8 left of the share)
    assert goes(pacer, 10) == 3


def test_calls_that_left_just_before_the_reported_one_may_not_have_been_counted() -> None:
    # GIVEN alone in a window of 14: ten calls of ours, answered 4 left, a share of 3
    clock = Clock(0.0)
    pacer = _ten_calls_then(clock, maximum=14, remaining=4)
    # AND two of it taken 5 ms apart
    assert pacer.delay() == 0.0
    clock.advance(0.005)
    assert pacer.delay() == 0.0
    sent_at = pacer.now()
    # WHEN the answer to the later one says 3 left (it reached HubSpot first, the earlier one after it)
    clock.advance(0.1)
    pacer.observe(rate_report(14, 3), sent_at=sent_at)
    # THEN the earlier one counts as not yet counted: 2 free, 1 beyond the reserve goes
    assert goes(pacer, 10) == 1


def test_a_late_report_about_an_older_request_is_ignored() -> None:
    # GIVEN a report about a request sent at t1 is known
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0, reserve=0)
    older = pacer.now()
    clock.advance(1.0)
    newer = pacer.now()
    pacer.observe(rate_report(10, 9), sent_at=newer)
    # WHEN the answer to an earlier request arrives afterwards saying nothing is left
    pacer.observe(rate_report(10, 0), sent_at=older)
    # THEN the newer picture stands: calls may start
    assert pacer.delay() == 0.0


def test_observing_none_keeps_the_previous_report() -> None:
    clock = Clock()
    pacer = pacer_with(clock, remaining=0)
    pacer.observe(None)
    clock.advance(0.1)
    assert pacer.delay() > 0


def test_without_a_share_or_an_own_slot_freeing_soon_it_looks_again_after_one_average_slot() -> None:
    # GIVEN nothing left in a window of 100 per 10 s: one slot is 0.1 s, and no call of ours in it
    clock = Clock()
    pacer = pacer_with(clock, maximum=100, remaining=0)
    clock.advance(0.01)
    # THEN it looks again after one slot, stretched by up to half of it by the jitter
    assert pacer.delay() == pytest.approx(0.1)
    jittery = RateLimitPacer(clock=clock, jitter=lambda: 1.0)
    jittery.observe(rate_report(100, 0))
    assert jittery.delay() == pytest.approx(0.15)


# --- RateLimitPacer: reusing the slots this environment frees ----------------------------------------


def _busy_window(clock: Clock, extra_at: list[float] | None = None, jitter: float = 0.0) -> RateLimitPacer:
    """Window of 10 per 10 s (one slot: 1 s): the probe at t=0, calls of ours at ``extra_at`` and at
    t=5, each answered 0.1 s later; the answer to the call at t=5 says 1 left, the rest used by others
    (nothing beyond the reserve to share)."""
    clock.now = 0.0
    pacer = probed(clock, maximum=10, remaining=9, jitter=jitter)
    times = [*(extra_at or []), 5.0]
    for made, at in enumerate(times, start=2):
        clock.now = at
        assert pacer.delay() == 0.0
        clock.advance(0.1)
        pacer.observe(rate_report(10, 1 if at == 5.0 else 10 - made), sent_at=at)
    assert pacer.delay() > 0
    return pacer


def test_a_slot_this_environment_freed_is_reused_at_once() -> None:
    # GIVEN our probe at t=0 frees its slot at t=10 + the 10 ms margin, and nothing is left to share
    clock = Clock()
    pacer = _busy_window(clock)
    # WHEN asking just before THEN the wait ends when our slot frees
    clock.now = 10.0
    assert pacer.delay() == pytest.approx(0.01)
    # WHEN it has freed THEN one call goes at once (the reserve does not hold back our own slot)
    clock.now = 10.01
    assert pacer.delay() == 0.0
    # AND only one: the slot is reused once
    assert pacer.delay() > 0


def test_the_wait_ends_when_our_next_slot_frees_if_that_comes_before_the_jittered_slot() -> None:
    # GIVEN our probe's slot frees at t=10.01 and a jitter that stretches the average slot to 1.495 s
    clock = Clock()
    pacer = _busy_window(clock, jitter=0.99)
    # WHEN asking 1.2 s before it frees THEN the wait is 1.2 s, not the jittered slot
    clock.now = 8.81
    assert pacer.delay() == pytest.approx(1.2)
    # AND 2 s before, the jittered slot comes first
    clock.now = 8.01
    assert pacer.delay() == pytest.approx(1.495)


def test_a_freed_slot_left_unused_for_one_slot_time_is_no_longer_ours() -> None:
    clock = Clock()
    pacer = _busy_window(clock)
    # WHEN asking one slot (1 s) after our slot freed THEN it may have been taken by others: wait
    clock.now = 11.01
    assert pacer.delay() > 0
    # BUT just within one slot time it is still ours
    pacer = _busy_window(clock)
    clock.now = 10.99
    assert pacer.delay() == 0.0


def test_each_freed_slot_is_reused_even_after_an_earlier_one_was_reused_late() -> None:
    # GIVEN our calls at t=0 and t=0.95 free their slots at t=10.01 and t=10.96
    clock = Clock()
    pacer = _busy_window(clock, extra_at=[0.95])
    # WHEN the first is reused late, at t=10.9 THEN it goes, and the second is not free yet
    clock.now = 10.9
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.06)
    # WHEN asking at t=11.05, after the first slot's time is over THEN the second freed slot is reused
    clock.now = 11.05
    assert pacer.delay() == 0.0
    assert pacer.delay() > 0


def test_a_freed_slot_is_reused_even_after_taking_a_share_of_the_report() -> None:
    # GIVEN the probe at t=0, a call at t=5 answered: 5 left, 3 used by others, 2 by us
    clock = Clock(0.0)
    pacer = probed(clock, maximum=10, remaining=9)
    clock.now = 5.0
    assert pacer.delay() == 0.0
    clock.now = 5.1
    pacer.observe(rate_report(10, 5), sent_at=5.0)
    # WHEN the share is taken: 1 + 3/2 = 2.5 sharers of 5 - 2 free slots, one call
    assert goes(pacer, 3) == 1
    # THEN our probe's slot, freed at t=10.01, is still ours to reuse
    clock.now = 10.01
    assert pacer.delay() == 0.0


def test_a_call_hubspot_refused_is_forgotten_and_frees_no_slot() -> None:
    # GIVEN the probe at t=0 (answered: alone, 9 left), a call at t=0.5 refused with a 429
    clock = Clock(0.0)
    pacer = probed(clock, maximum=10, remaining=9)
    clock.now = 0.5
    assert pacer.delay() == 0.0
    clock.now = 0.6
    pacer.observe(rate_report(10, 0), sent_at=0.5)
    pacer.release(0.5)
    # AND the probe's slot reused at t=10.01, answered: window full
    clock.now = 10.01
    assert pacer.delay() == 0.0
    clock.now = 10.1
    pacer.observe(rate_report(10, 0), sent_at=10.01)
    # WHEN the refused call's slot would have freed (t=10.51)
    clock.now = 10.51
    # THEN there is none to reuse: it never took one
    assert pacer.delay() > 0


def test_release_forgets_the_latest_call_started_by_then() -> None:
    # GIVEN calls of ours at t=0 (the probe), 0.5 and 0.7; the one at 0.5 was refused
    clock = Clock()
    pacer = _busy_window(clock, extra_at=[0.5, 0.7])
    pacer.release(0.5)
    # THEN the slots of t=0 and t=0.7 free and are reused, that of t=0.5 does not exist
    clock.now = 10.01
    assert goes(pacer, 3) == 1
    clock.now = 10.51
    assert goes(pacer, 3) == 0
    clock.now = 10.71
    assert goes(pacer, 3) == 1


# --- RateLimitPacer: after a 429, and under load ------------------------------------------------------


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


def test_after_a_429_it_waits_until_its_oldest_call_in_the_window_leaves_it() -> None:
    # GIVEN our calls at t=0 (the probe), t=0.95 and t=5 in a full 10 s window, then a 429 at t=6
    clock = Clock()
    pacer = _busy_window(clock, extra_at=[0.95])
    clock.now = 6.0
    # WHEN it is throttled THEN nothing goes until the probe's slot frees (t=10 + the margin)
    assert pacer.throttled() == pytest.approx(4.01)
    clock.now = 9.5
    assert pacer.delay() == pytest.approx(0.51)
    # AND then that slot is ours: one call goes at once, the next waits for the slot of t=0.95
    clock.now = 10.01
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.95)


def test_after_a_429_with_no_call_of_ours_in_the_window_it_waits_a_whole_jittered_interval() -> None:
    # GIVEN a report but no call of this environment in the last 10 s
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.5)
    pacer.observe(rate_report(10, 0))
    # WHEN it is throttled THEN it waits the interval plus a tenth of it (half of the 20% jitter)
    assert pacer.throttled() == pytest.approx(11.0)
    assert pacer.delay() == pytest.approx(11.0)


def test_after_a_429_the_window_is_the_latest_reports_even_once_a_named_wait_dropped_it() -> None:
    # GIVEN a 2 s window: our call at t=0 answered, then a Retry-After wait that drops the report
    clock = Clock(0.0)
    pacer = probed(clock, maximum=10, remaining=9)
    pacer.observe(RateLimitReport(maximum=10, remaining=9, interval_s=2.0), sent_at=0.0)
    clock.now = 0.5
    pacer.block_for(0.1)
    # WHEN a 429 without Retry-After comes at t=1 THEN the wait ends when the t=0 call leaves the
    # 2 s window (t=2 + the margin), not a 10 s one
    clock.now = 1.0
    assert pacer.throttled() == pytest.approx(1.01)


def test_a_429_never_shortens_a_longer_block() -> None:
    clock = Clock()
    pacer = _busy_window(clock)
    clock.now = 6.0
    pacer.block_for(30.0)
    # WHEN throttled while blocked for longer THEN the block stands
    assert pacer.throttled() == pytest.approx(30.0)


def test_after_a_named_wait_one_call_probes_instead_of_trusting_the_429s_report() -> None:
    # GIVEN a 429 whose report says nothing is left, and Retry-After 1 s
    clock = Clock()
    pacer = pacer_with(clock, remaining=0)
    pacer.block_for(1.0)
    # WHEN the wait is over THEN one call goes (it probes) and the others wait for its answer
    clock.advance(1.0)
    assert goes(pacer, 5) == 1
    assert pacer.delay() == pytest.approx(PROBE_WAIT_S)


def test_a_late_answer_to_a_call_sent_before_the_named_wait_is_ignored() -> None:
    # GIVEN our probe at t=0 (answered: alone, 99 left) and a call at t=0.1, then a 429 at t=0.2
    # naming a 1 s wait
    clock = Clock(0.0)
    pacer = probed(clock, maximum=100, remaining=99)
    assert pacer.delay() == 0.0
    clock.now = 0.2
    pacer.block_for(1.0)
    # WHEN the answer to the t=0.1 call (nothing left, as it saw it) arrives during the wait
    clock.now = 0.5
    pacer.observe(rate_report(100, 0), sent_at=0.1)
    # THEN after the wait a call still probes: the stale report does not hold it back
    clock.now = 1.2
    assert pacer.delay() == 0.0


def test_block_for_applies_without_any_report() -> None:
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    pacer.block_for(10.0)
    assert pacer.delay() == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("remaining", "share"),
    # 1 + others/10 sharers of (remaining - 2 kept back), at most half our 10 calls
    [(0, 0), (1, 0), (2, 0), (10, 0), (25, 3), (40, 5)],
)
def test_many_threads_never_take_more_than_one_report_allows_plus_the_own_freed_slots(
    remaining: int, share: int
) -> None:
    for _ in range(10):  # races are rare: try a few times
        # GIVEN ten calls of ours (100 per 10 s, one slot 0.1 s), 5 ms apart from t=0, all freed by
        # t=10.06, and a report about a call sent at t=9.99, which arrived at 10.04 with ``remaining``;
        # the clock does not move
        clock = Clock(0.0)
        pacer, _ = grown(clock, maximum=100, calls=10, step=0.005)
        clock.now = 10.04
        pacer.observe(rate_report(100, remaining), sent_at=9.99)
        clock.now = 10.06
        # WHEN 16 threads ask 25 times each at once, switching as often as the interpreter can
        # THEN exactly our ten freed slots and the report's share went, never more
        assert _asked_by_threads(pacer, threads=16, asks=25) == 10 + share


def _asked_by_threads(pacer: RateLimitPacer, threads: int, asks: int) -> int:
    """How many calls went when ``threads`` threads each asked ``asks`` times at once."""
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        mine = goes(pacer, asks)
        with lock:
            granted.append(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    return sum(granted)


def test_own_call_history_stays_bounded_without_rate_limit_headers() -> None:
    # GIVEN responses that never carry rate-limit headers, and one call a second for an hour
    clock = Clock()
    pacer = RateLimitPacer(clock=clock, jitter=lambda: 0.0)
    for _ in range(3600):
        assert pacer.delay() == 0.0  # each one a probe: the last one timed out
        pacer.observe(None)
        clock.advance(PROBE_TIMEOUT_S)
    # THEN the pacer remembers only the calls that can still matter (about two intervals' worth)
    assert len(pacer._own_starts) <= 2 * DEFAULT_INTERVAL_S + 1
    # AND a report arriving now still counts the recent calls as ours: 9 in its window, and 91 of 100
    # left means nobody else is busy, so a share as large as our calls in the window goes (forgotten
    # calls would make 9 others busy: 10 sharers, and a share of one)
    pacer.observe(rate_report(100, 91))
    assert goes(pacer, 100) == 9
