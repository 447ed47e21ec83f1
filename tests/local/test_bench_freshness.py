"""bench/freshness.py's pure parts: the saturation bound with reads, the shares it reports, the no-op
workload's split, and the figures it takes from the emulator's request log and the summary lines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from bench import freshness


def test_the_bound_with_two_reads_per_write_is_a_third_of_the_write_only_bound() -> None:
    """GIVEN 19 calls per 1,000 ms and 100 inputs a write
    WHEN one call in three is a write (two reads per chunk)
    THEN the bound is 19 x 100 / 3 statuses/s, and all writes give figure 2's 1,900."""
    assert freshness.bound_with_reads(19, 1_000, 100, 10, 30) == pytest.approx(1_900 / 3)
    assert freshness.bound_with_reads(19, 1_000, 100, 30, 30) == pytest.approx(1_900)


def test_the_bound_follows_the_runs_own_share_of_writes_and_the_window() -> None:
    """GIVEN HubSpot's own 190 per 10,000 ms
    WHEN 26 of 86 calls are writes (reads of ``subscribed`` contacts only, say)
    THEN the bound is 19/s x 100 x 26/86."""
    assert freshness.bound_with_reads(190, 10_000, 100, 26, 86) == pytest.approx(19 * 100 * 26 / 86)


@pytest.mark.parametrize(("writes", "calls"), [(1, 0), (-1, 3), (4, 3)])
def test_a_share_of_writes_that_cannot_be_is_refused(writes: int, calls: int) -> None:
    """GIVEN no calls, or more writes than calls, or fewer than none
    WHEN the bound is asked for THEN it is a ValueError, not a number."""
    with pytest.raises(ValueError, match="writes"):
        freshness.bound_with_reads(19, 1_000, 100, writes, calls)


def test_calls_saved_against_off_are_negative_when_the_check_costs_more() -> None:
    """GIVEN off's 100 calls WHEN a mode makes 270, or 90 THEN -170% and +10% are saved; and a share
    of nothing is 0."""
    assert freshness.saved_percent(270, 100) == -170.0
    assert freshness.saved_percent(90, 100) == 10.0
    assert freshness.share_percent(3, 0) == 0.0
    assert freshness.share_percent(3_000, 10_000) == 30.0


def test_the_no_op_workload_seeds_exactly_thirty_in_every_hundred_updates() -> None:
    """GIVEN any run of 100 consecutive update numbers WHEN split THEN 30 hold their state already."""
    for start in (0, 7_100_000, 12_345):
        assert sum(freshness.held_by_hubspot(n) for n in range(start, start + 100)) == 30


def test_summary_lines_are_found_among_other_log_lines_and_their_counts_added_up() -> None:
    """GIVEN an environment's log: a summary line per invocation, other JSON, EMF and plain text
    WHEN read THEN only the summary lines count, their integer fields summed."""
    summary = {"message": "batch processed", "records": 1000, "unchanged_in_hubspot": 300, "level": "INFO"}
    lines = [
        json.dumps(summary),
        json.dumps({"message": "starting", "records": 5}),
        '{"_aws": {"CloudWatchMetrics": []}, "UnchangedInHubSpot": [300]}',
        "START RequestId: 1",
        "{not json",
        json.dumps({**summary, "unchanged_in_hubspot": 250, "hubspot_calls": 27}),
    ]
    found = freshness.summaries(lines)
    assert len(found) == 2
    assert freshness.summed(found) == {"records": 2000, "unchanged_in_hubspot": 550, "hubspot_calls": 27}


def _entry(at_s: float, route: str, status: int = 200, inputs: int = 100) -> dict[str, Any]:
    seconds = f"{at_s:06.3f}"
    return {
        "at": f"2026-12-02T06:00:{seconds}+00:00",
        "route": route,
        "status": status,
        "body": {"inputs": [0] * inputs},
    }


def _epoch_of(at_s: float) -> float:
    """The epoch seconds of ``_entry``'s ``at_s``: what an invocation's ``started_at`` is."""
    return datetime.fromisoformat(_entry(at_s, freshness.WRITE_ROUTE)["at"]).timestamp()


def _windows(count: int) -> list[dict[str, Any]]:
    """``count`` rate-limit windows from t=0, each of a status read, a wide read and a write, in that
    order (an invocation reads first)."""
    read, wide = freshness.READ_ROUTES
    log = []
    for window in range(count):
        log += [
            _entry(window + 0.0, read),
            _entry(window + 0.1, wide),
            _entry(window + 0.5, freshness.WRITE_ROUTE),
        ]
    return log


def test_saturation_counts_from_the_first_read_and_judges_against_the_share_of_writes_in_its_windows() -> (
    None
):
    """GIVEN 3 rate-limit windows of 2 reads + 1 write each from t=0 (the reads first), and a 429 read
    WHEN the figures are made
    THEN the windows start at the first read, every 100-input write in them counts, the bound is
    1,900 x 2/7 (the 2 writes of the 7 calls in those two windows), and 1 of 10 calls is a 429."""
    log = _windows(3)
    log.append(_entry(0.2, freshness.READ_ROUTES[0], status=429))
    figures = freshness.saturation_figures(log, concurrency=2)
    assert figures["windows"] == 2  # from 0.0 to the last delivering write at 2.5: two whole windows
    assert figures["delivered_statuses_per_s"] == 100.0  # the writes at 0.5 and 1.5
    assert (figures["reads_in_windows"], figures["writes_in_windows"]) == (5, 2)
    assert figures["bound_statuses_per_s"] == round(1900 * 2 / 7, 1)
    assert (figures["reads"], figures["writes"], figures["calls"]) == (7, 3, 10)
    assert figures["percent_429"] == 10.0
    assert figures["percent_of_bound"] == round(100 * 100 / (1900 * 2 / 7), 1)
    # AND with the backlog's last event handed out at 1.2 s, only the first window counts
    assert freshness.saturation_figures(log, concurrency=2, until=_epoch_of(1.2))["windows"] == 1


def test_saturation_leaves_the_write_only_tail_out_of_the_bound_as_it_leaves_it_out_of_the_rate() -> None:
    """GIVEN two windows of 2 reads + 1 write, then writes alone in the part of a window that follows
    (the last invocations' writes, their reads done)
    WHEN the figures are made
    THEN the tail's writes count in neither the rate nor the bound: the run used its windows fully."""
    log = _windows(2)
    log += [_entry(2.1 + 0.1 * n, freshness.WRITE_ROUTE) for n in range(4)]
    figures = freshness.saturation_figures(log, concurrency=2)
    assert figures["windows"] == 2
    assert figures["bound_statuses_per_s"] == round(1900 * 1 / 3, 1)
    assert figures["delivered_statuses_per_s"] == 100.0
