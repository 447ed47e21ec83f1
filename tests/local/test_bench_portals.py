"""bench/portals.py's pure parts (figure 8): how updates are spread over the portals, each portal's
limit and bound, the whole-window rate of figure 2, and the figures taken from one portal's request
log and from the summary lines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from bench import portals, saturation, workload

THREE = (101, 202, 303)


def test_updates_go_to_the_portals_in_blocks_of_one_batch_call_in_turn() -> None:
    """GIVEN three portals WHEN updates 0..599 are spread THEN each run of 100 consecutive updates
    goes to one portal, in turn, so every portal gets 200 of them in whole blocks."""
    assert workload.PORTAL_BLOCK == 100
    spread = [workload.portal_of(n, THREE) for n in range(600)]
    assert spread[:100] == [101] * 100
    assert spread[100:200] == [202] * 100
    assert spread[200:300] == [303] * 100
    assert spread[300] == 101
    assert {portal: spread.count(portal) for portal in THREE} == dict.fromkeys(THREE, 200)


def test_without_portals_a_body_names_none_and_is_as_before() -> None:
    """GIVEN no portals WHEN update 7 is built THEN it has no portalId (figures 1-7 are unchanged);
    with portals it names the one its block belongs to."""
    assert workload.portal_of(7, ()) is None
    assert "portalId" not in workload.body(7)
    assert workload.body(7, portals=THREE)["portalId"] == 101
    assert workload.body(250, portals=THREE)["portalId"] == 303


def test_an_event_spec_with_portals_survives_the_trip_to_the_worker() -> None:
    """GIVEN a spec with portals WHEN sent as JSON (a list) and rebuilt THEN it is the same spec, and
    its event's bodies name their portals."""
    spec = workload.EventSpec(9_000_000, 300, portals=THREE)
    again = workload.EventSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    bodies = [json.loads(r["body"]) for r in workload.event(again)["Records"]]
    assert [b["portalId"] for b in bodies[::100]] == [101, 202, 303]


def test_a_contacts_update_number_is_read_back_from_its_email_only_when_it_is_a_bench_contact() -> None:
    """GIVEN the full bodies' emails and others WHEN read THEN the number, or None."""
    assert workload.contact_number(workload.body(9_000_123)["subscriberIdString"]) == 9_000_123
    assert workload.contact_number("c0000001@example.com") is None
    assert workload.contact_number("bench.contact.12x@example.com") is None
    assert workload.contact_number("bench.contact.0000001@example.org") is None


def test_the_throttled_scenario_gives_the_last_portal_a_tenth_of_the_rate() -> None:
    """GIVEN a third of HubSpot's limit, 63 per 10,000 ms WHEN the scenarios' limits are asked for THEN
    all three get it evenly; throttled, the last one gets 6 per 10,000 ms: 60 statuses/s, a tenth of
    630 rounded down to whole calls, over HubSpot's same window."""
    one = portals.Limit(portals.PORTAL_MAX, portals.PORTAL_INTERVAL_MS)
    assert one.bound() == 630
    assert portals.limits("even", one, THREE) == dict.fromkeys(THREE, one)
    throttled = portals.limits("one_throttled", one, THREE)
    assert throttled[101] == throttled[202] == one
    assert throttled[303] == portals.Limit(6, 10_000)
    assert throttled[303].bound() == pytest.approx(60)
    assert portals.limits("one_throttled", portals.Limit(5, 10_000), THREE)[303] == portals.Limit(1, 10_000)
    with pytest.raises(ValueError, match="unknown scenario"):
        portals.limits("two_throttled", one, THREE)


def test_the_rate_counts_whole_windows_only_from_the_first_request() -> None:
    """GIVEN calls of 100 statuses at 0.1, 0.5, 1.2 and 2.4 s after a first request at 0
    WHEN counted in 1 s windows THEN 2 whole windows (the call at 2.4 s is in the partial third),
    300 statuses: 150 statuses/s."""
    calls = [(0.1, 100), (0.5, 100), (1.2, 100), (2.4, 100)]
    assert saturation.whole_window_rate(calls, 0.0, 1.0) == (2, 2.0, 150.0)


def test_the_rate_ends_with_the_backlog_not_with_the_last_call() -> None:
    """GIVEN calls of 100 statuses every 0.5 s up to 4.5 s, the last event handed out at 2.2 s
    WHEN counted in 1 s windows up to the backlog's end THEN 2 whole windows and 400 statuses in them
    (200/s), while up to the last call the slower end counts too: 4 windows."""
    calls = [(0.1 + 0.5 * n, 100) for n in range(3)] + [(1.7, 100), (3.0, 100), (4.5, 100)]
    assert saturation.whole_window_rate(calls, 0.0, 1.0, until=2.2) == (2, 2.0, 200.0)
    assert saturation.whole_window_rate(calls, 0.0, 1.0) == (4, 4.0, 125.0)
    answers = [{"started_at": 0.0}, {"started_at": 2.2}, {"started_at": 1.1}]
    assert saturation.backlog_end(answers) == 2.2
    with pytest.raises(ValueError, match="no invocation"):
        saturation.backlog_end([])


def test_a_rate_over_less_than_a_window_still_counts_one_and_nothing_is_refused() -> None:
    """GIVEN one call 0.3 s after the first request WHEN counted THEN one window; no calls or no
    interval are errors, not rates."""
    assert saturation.whole_window_rate([(0.3, 100)], 0.0, 10.0) == (1, 10.0, 10.0)
    with pytest.raises(ValueError, match="no delivering call"):
        saturation.whole_window_rate([], 0.0, 1.0)
    with pytest.raises(ValueError, match="interval"):
        saturation.whole_window_rate([(0.3, 100)], 0.0, 0.0)


def _entry(
    at_s: float, numbers: range, status: int = 200, route: str = "statuses/batch/write"
) -> dict[str, Any]:
    return {
        "at": f"2026-12-02T06:00:{at_s:06.3f}+00:00",
        "route": route,
        "status": status,
        "body": {"inputs": [{"subscriberIdString": workload.body(n)["subscriberIdString"]} for n in numbers]},
    }


def _second_portals_log() -> list[dict[str, Any]]:
    """Portal 202's writes of 100 at 0, 0.4 and 1.5 s and a 429 at 0.6 s (its blocks of updates)."""
    return [
        _entry(0.0, range(100, 200)),
        _entry(0.4, range(400, 500)),
        _entry(0.6, range(700, 800), status=429),
        _entry(1.5, range(1_000, 1_100)),
    ]


def test_one_portal_is_judged_from_its_own_log_against_its_own_limit() -> None:
    """GIVEN portal 202's log (updates 100-199 are its block in portals.PORTALS' order): writes of 100 at
    0, 0.4 and 1.5 s and a 429 at 0.6 s, limit 19 per 1,000 ms
    WHEN its figures are taken THEN 1 whole window with 200 statuses delivered in it (10.5% of 1,900),
    1 of 4 calls 429, 300 delivered in all, no input of another portal."""
    second = portals.PORTALS[1]
    log = _second_portals_log()
    figures = portals.portal_figures(log, second, portals.Limit(19, 1_000))
    assert figures["windows"] == 1
    assert figures["delivered_statuses_per_s"] == 200.0
    assert figures["percent_of_bound"] == pytest.approx(10.5)
    assert (figures["calls"], figures["calls_429"], figures["percent_429"]) == (4, 1, 25.0)
    assert figures["statuses_delivered"] == 300
    assert figures["inputs_of_other_portals"] == 0


def test_one_portals_rate_ends_with_the_backlog() -> None:
    """GIVEN the same log judged in 500 ms windows (three whole ones up to the write at 1.5 s)
    WHEN the backlog's last event was handed out 1.2 s after the first request
    THEN two windows count, with the writes at 0 and 0.4 s in them: 200 statuses in 1 s; up to the
    last delivering call, three windows (1.5 s) with the same 200 statuses: 133.3/s."""
    second = portals.PORTALS[1]
    log = _second_portals_log()
    start = datetime.fromisoformat(log[0]["at"]).timestamp()
    limit = portals.Limit(19, 500)
    ended = portals.portal_figures(log, second, limit, until=start + 1.2)
    assert (ended["windows"], ended["delivered_statuses_per_s"]) == (2, 200.0)
    assert ended["delivered_statuses_per_s_to_last_delivery"] == 133.3
    whole = portals.portal_figures(log, second, limit)
    assert (whole["windows"], whole["delivered_statuses_per_s"]) == (3, 133.3)


def test_inputs_that_reached_the_wrong_portal_are_counted() -> None:
    """GIVEN portal 1's log holding one write of its own block and one of portal 2's contacts
    WHEN its figures are taken THEN the 100 foreign inputs are counted, not hidden."""
    first = portals.PORTALS[0]
    log = [_entry(0.0, range(0, 100)), _entry(0.2, range(100, 200))]
    assert portals.portal_figures(log, first, portals.Limit(19, 1_000))["inputs_of_other_portals"] == 100


def test_a_portal_that_delivered_nothing_has_a_rate_of_zero() -> None:
    """GIVEN only 429s WHEN judged THEN 0 statuses/s and 100% 429, and no window."""
    log = [_entry(0.0, range(0, 100), status=429)]
    figures = portals.portal_figures(log, portals.PORTALS[0], portals.Limit(19, 1_000))
    assert (figures["delivered_statuses_per_s"], figures["percent_429"], figures["windows"]) == (
        0.0,
        100.0,
        0,
    )


def _row(
    rate: float, calls: int, throttled: int, bound: float = 1_900.0, to_last: float | None = None
) -> dict[str, Any]:
    return {
        "delivered_statuses_per_s": rate,
        "delivered_statuses_per_s_to_last_delivery": rate if to_last is None else to_last,
        "calls": calls,
        "calls_429": throttled,
        "bound_statuses_per_s": bound,
        "percent_of_bound": round(100 * rate / bound, 1),
        "percent_429": round(100 * throttled / calls, 2),
    }


def test_evenly_the_three_portals_are_judged_together_against_three_bounds() -> None:
    """GIVEN three portals at 1,800, 1,750 and 1,700 statuses/s with one 429 in 300 calls
    (1,700, 1,650 and 1,600 counted up to the last delivering call)
    WHEN judged THEN 5,250 of 5,700 (92.1%), 0.33% 429: met; up to the last call 4,950 (86.8%)."""
    rows = {
        "1": _row(1_800, 100, 0, to_last=1_700),
        "2": _row(1_750, 100, 1, to_last=1_650),
        "3": _row(1_700, 100, 0, to_last=1_600),
    }
    figures = portals.scenario_figures("even", rows, 1_900)
    assert figures["bound_statuses_per_s"] == 5_700
    assert figures["delivered_statuses_per_s"] == 5_250
    assert figures["percent_of_bound"] == 92.1
    assert figures["percent_of_bound_to_last_delivery"] == 86.8
    assert figures["percent_429"] == 0.33
    assert figures["met"] is True
    assert "throttled" not in figures


def test_throttled_the_last_portal_is_left_out_of_the_judged_two_and_reported_on_its_own() -> None:
    """GIVEN two portals at 400 and 380 statuses/s and the throttled one at 172 of 190
    WHEN judged THEN 780 of 3,800 (20.5%): not met; the throttled portal's 90.5% of its tenth apart."""
    rows = {"1": _row(400, 30, 0), "2": _row(380, 30, 0), "3": _row(172, 20, 1, bound=190)}
    figures = portals.scenario_figures("one_throttled", rows, 1_900)
    assert (figures["portals_judged"], figures["bound_statuses_per_s"]) == (2, 3_800)
    assert figures["percent_of_bound"] == 20.5
    assert figures["met"] is False
    assert figures["throttled"]["percent_of_bound"] == 90.5
    assert figures["throttled"]["percent_429"] == 5.0


def test_outcomes_per_portal_are_added_up_from_the_summary_lines() -> None:
    """GIVEN two summary lines with per-portal counts, and one without WHEN added up THEN per portal."""
    lines = [
        {"portals": {"101": {"applied": 400}, "202": {"applied": 300, "retryable": 3}}},
        {"portals": {"202": {"applied": 297}, "303": "garbled"}},
        {"records": 5},
    ]
    assert portals.portal_outcomes(lines) == {
        "101": {"applied": 400},
        "202": {"applied": 597, "retryable": 3},
    }


def test_the_environments_busy_share_is_handler_time_over_their_span() -> None:
    """GIVEN two environments over 0-10 s, in the handler 4 s + 4 s and 6 s WHEN judged THEN 14 of 20
    environment-seconds: 70%; no answers is 0, not a division by zero."""
    answers = [
        {"started_at": 0.0, "ended_at": 4.0, "duration_ms": 4_000.0},
        {"started_at": 5.0, "ended_at": 9.0, "duration_ms": 4_000.0},
        {"started_at": 4.0, "ended_at": 10.0, "duration_ms": 6_000.0},
    ]
    assert portals.busy_percent(answers, 2) == 70.0
    assert portals.busy_percent([], 2) == 0.0
