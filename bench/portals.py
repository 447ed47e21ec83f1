"""Figure 8, many portals (README: Many portals): one deployment's execution environments drain a backlog
of events whose updates are spread over three portals, each portal with its own token, secret and
emulator rate limit.

- ``even``: every portal at a third of HubSpot's limit over HubSpot's own 10 s window (``PORTAL_MAX``
  of 190 per ``PORTAL_INTERVAL_MS``), 50-150 ms latency. The limits add up: the bound is 3 x the
  one-portal bound, about figure 2's bound, so the bench does figure 2's work per second (on 2 cores,
  three portals at HubSpot's full rate measured the machine: the environments waited for the bench's
  own event building, not for HubSpot). Each portal's window holds 63 slots, a third of HubSpot's 190:
  figure 2's window, scaled ten times shorter, holds 19, and there one slot kept back for safety costs
  5% of the bound where at HubSpot it costs 0.5%.
- ``one_throttled``: the same, with the last portal at a tenth of that rate (a tenth of the Max over
  the same window, as HubSpot's tiers differ). The other two portals are judged against 2 x the
  one-portal bound, the throttled one against its tenth.

Updates go to the portals in blocks of one batch call (``workload.PORTAL_BLOCK``), in turn, so each
portal's share of an event is whole calls. Each portal is counted from its own request log in the
emulator (the inputs of its batch writes answered 200, by arrival), over the whole windows of its own
limit between its first request and the end of the backlog or its last delivering call, whichever is
first (figure 2's rule, ``saturation.whole_window_rate``); 429s as a share of its calls. The backlog
lasts about twelve of those windows. Every input is checked to belong to the portal that received it.
The freshness check is off (``harness.CHECK_OFF``), so the bound is the plain write bound. Records
the function returned for retry are counted per portal from the summary lines, not sent again (there
is no SQS in the bench); the throttled run takes no new event after ``THROTTLED_STOP_S``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import saturation
from bench.freshness import summaries
from bench.harness import CHECK_OFF, World, configure_portal
from bench.workload import contact_number, portal_of

PORTALS = (91_000_001, 91_000_002, 91_000_003)
TOKENS = {portal: f"pat-na1-bench-portal-{portal}" for portal in PORTALS}
CONCURRENCY = 4  # execution environments, figure 2's larger count
THROTTLE_FACTOR = 10  # the throttled portal's Max is this many times smaller: a tenth of the rate
WRITE_ROUTE = "statuses/batch/write"
TARGET_PERCENT = 90.0  # of the bound, with at most 1% of calls 429 (figure 2's target)
TARGET_429_PERCENT = 1.0
SCENARIOS = ("even", "one_throttled")
PORTAL_MAX = 63  # a third of HubSpot's 190 calls per 10 s (README: Many portals, how limits add up)
PORTAL_INTERVAL_MS = 10_000  # HubSpot's own window
BACKLOG_FACTOR = 6  # six times figure 2's 20 s: about twelve of these windows, as figure 2 has twenty
THROTTLED_STOP_S = 150.0  # no new event after this: past the backlog's end at the unthrottled rate


@dataclass(frozen=True)
class Limit:
    """One portal's emulator rate limit."""

    maximum: int
    interval_ms: int

    def bound(self, inputs_per_call: int = saturation.INPUTS_PER_CALL) -> float:
        """Statuses/s the limit allows with full batch calls."""
        return self.maximum / (self.interval_ms / 1000) * inputs_per_call


def limits(scenario: str, one: Limit, portals: Sequence[int] = PORTALS) -> dict[int, Limit]:
    """Each portal's limit in ``scenario``: ``one`` for all, or for all but the last, which gets a
    tenth of its rate (``THROTTLE_FACTOR`` times fewer calls, at least one, over the same window)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {SCENARIOS}")
    out = dict.fromkeys(portals, one)
    if scenario == "one_throttled":
        out[portals[-1]] = Limit(max(1, one.maximum // THROTTLE_FACTOR), one.interval_ms)
    return out


def run(world: World, scenario: str, seconds: float, first_update: int) -> dict[str, Any]:
    """``seconds`` of backlog at the portals' summed bound (the even scenario's), drained by
    ``CONCURRENCY`` environments; the figures per portal and for the scenario."""
    one = Limit(PORTAL_MAX, PORTAL_INTERVAL_MS)
    seconds *= BACKLOG_FACTOR
    by_portal = limits(scenario, one)
    pattern = world.serve_portals(TOKENS)
    world.configure_emulator(request_log_limit=100_000)  # the first portal: no bench call may reach it
    for index, (portal, limit) in enumerate(by_portal.items()):
        configure_portal(
            world.emulator.portal(portal),
            rate_limit_max=limit.maximum,
            rate_limit_interval_ms=limit.interval_ms,
            latency_ms=saturation.LATENCY_MS[0],
            latency_max_ms=saturation.LATENCY_MS[1],
            request_log_limit=100_000,
            seed=300 + index,
        )
    events = math.ceil(seconds * len(PORTALS) * one.bound() / saturation.EVENT_RECORDS)
    load_at_start = round(os.getloadavg()[0], 2)
    stop_after_s = THROTTLED_STOP_S if scenario == "one_throttled" else 3 * seconds + 30
    label = f"portals-{scenario}"
    answers, left_over = saturation.drain_backlog(
        world,
        label,
        concurrency=CONCURRENCY,
        events=events,
        first_update=first_update,
        records=saturation.EVENT_RECORDS,
        stop_after_s=stop_after_s,
        env={**CHECK_OFF, "HUBSPOT_SECRET_ID": pattern},
        portals=PORTALS,
    )
    outcomes = portal_outcomes(_summary_lines(world.log_dir, label))
    until = saturation.backlog_end(answers)
    figures = {
        str(portal): {
            **portal_figures(world.emulator.portal(portal).request_log(), portal, limit, until),
            **outcomes.get(str(portal), {}),
        }
        for portal, limit in by_portal.items()
    }
    return {
        "scenario": scenario,
        "concurrency": CONCURRENCY,
        "by_portal": figures,
        **scenario_figures(scenario, figures, one.bound()),
        "calls_to_other_portals": world.emulator.counters()["total"],
        "events": events,
        "events_left_undelivered": max(left_over, default=0),
        "stop_after_s": stop_after_s,
        "records": sum(answer["records"] for answer in answers),
        "retryable_records": sum(answer["failures"] for answer in answers),
        "load_average_at_start": load_at_start,
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "handler_busy_percent": busy_percent(answers, CONCURRENCY),
        "invocation_ms_median": _median([a["duration_ms"] for a in answers]),
        "invocation_ms_max": round(max((a["duration_ms"] for a in answers), default=0.0), 1),
        "run_s": round(max(a["ended_at"] for a in answers) - min(a["started_at"] for a in answers), 3),
    }


def portal_figures(
    log: Iterable[Mapping[str, Any]], portal: int, limit: Limit, until: float = math.inf
) -> dict[str, Any]:
    """One portal's delivered statuses/s from its own request log: the inputs of its 200 batch writes,
    by arrival, over the whole windows of its limit from its first request to ``until`` (the end of the
    backlog) or its last delivering call, whichever is first;
    429s as a share of its calls; inputs whose contact is another portal's (none, if routing holds)."""
    calls = sorted((_epoch(e["at"]), e["route"], e["status"], _inputs(e)) for e in log)
    delivering = [
        (at, len(inputs)) for at, route, status, inputs in calls if route == WRITE_ROUTE and status == 200
    ]
    bound = limit.bound()
    figures: dict[str, Any] = {
        "rate_limit_max": limit.maximum,
        "rate_limit_interval_ms": limit.interval_ms,
        "bound_statuses_per_s": round(bound, 1),
        "calls": len(calls),
        "calls_429": sum(1 for _, _, status, _ in calls if status == 429),
        "percent_429": round(100 * sum(1 for c in calls if c[2] == 429) / len(calls), 2) if calls else 0.0,
        "statuses_delivered": sum(inputs for _, inputs in delivering),
        "inputs_of_other_portals": sum(
            1 for _, _, _, inputs in calls for email in inputs if _portal_of_email(email) != portal
        ),
    }
    if not delivering:
        return {
            **figures,
            "windows": 0,
            "measured_s": 0.0,
            "delivered_statuses_per_s": 0.0,
            "percent_of_bound": 0.0,
            "delivered_statuses_per_s_to_last_delivery": 0.0,
        }
    interval_s = limit.interval_ms / 1000
    windows, measured_s, rate = saturation.whole_window_rate(delivering, calls[0][0], interval_s, until)
    whole_run = saturation.whole_window_rate(delivering, calls[0][0], interval_s)[2]
    return {
        **figures,
        "windows": windows,
        "measured_s": round(measured_s, 3),
        "delivered_statuses_per_s": round(rate, 1),
        "percent_of_bound": round(100 * rate / bound, 1),
        "delivered_statuses_per_s_to_last_delivery": round(whole_run, 1),  # the end of the drain too
    }


def scenario_figures(
    scenario: str, by_portal: Mapping[str, Mapping[str, Any]], one_bound: float
) -> dict[str, Any]:
    """The scenario's judged figures: the unthrottled portals' delivered statuses/s summed against their
    summed bound (3 x, or 2 x figure 2's), their 429s over their calls, and the throttled portal's
    share of its tenth. ``met``: >= TARGET_PERCENT of the bound with <= 1% 429s, for the unthrottled."""
    rows = list(by_portal.values())
    throttled = rows[-1] if scenario == "one_throttled" else None
    judged = rows[:-1] if throttled is not None else rows
    bound = one_bound * len(judged)
    rate = sum(row["delivered_statuses_per_s"] for row in judged)
    calls = sum(row["calls"] for row in judged)
    throttled_calls = sum(row["calls_429"] for row in judged)
    percent = round(100 * rate / bound, 1)
    whole_run = sum(row["delivered_statuses_per_s_to_last_delivery"] for row in judged)
    percent_429 = round(100 * throttled_calls / calls, 2) if calls else 0.0
    out: dict[str, Any] = {
        "portals_judged": len(judged),
        "bound_statuses_per_s": round(bound, 1),
        "delivered_statuses_per_s": round(rate, 1),
        "percent_of_bound": percent,
        "percent_of_bound_to_last_delivery": round(100 * whole_run / bound, 1),
        "percent_429": percent_429,
        "met": percent >= TARGET_PERCENT and percent_429 <= TARGET_429_PERCENT,
    }
    if throttled is not None:
        out["throttled"] = {
            "delivered_statuses_per_s": throttled["delivered_statuses_per_s"],
            "bound_statuses_per_s": throttled["bound_statuses_per_s"],
            "percent_of_bound": throttled["percent_of_bound"],
            "percent_429": throttled["percent_429"],
        }
    return out


def busy_percent(answers: Sequence[Mapping[str, Any]], concurrency: int) -> float:
    """The environments' time inside the handler, as a share of ``concurrency`` x the run's span (first
    handler start to last handler end). Well under 100%: they waited between invocations for the
    bench (the next event built in the worker, the answer read back), not for HubSpot."""
    if not answers or concurrency < 1:
        return 0.0
    span = max(float(a["ended_at"]) for a in answers) - min(float(a["started_at"]) for a in answers)
    if span <= 0:
        return 0.0
    busy_s = sum(float(a["duration_ms"]) for a in answers) / 1000
    return round(100 * busy_s / (span * concurrency), 1)


def portal_outcomes(lines: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Outcomes per portal from the summary lines' ``portals`` field (README: Many portals), added up."""
    total: dict[str, dict[str, int]] = {}
    for line in lines:
        portals = line.get("portals")
        if not isinstance(portals, Mapping):
            continue
        for portal, counts in portals.items():
            if not isinstance(counts, Mapping):
                continue
            mine = total.setdefault(str(portal), {})
            for name, value in counts.items():
                if type(value) is int:
                    mine[name] = mine.get(name, 0) + value
    return total


def _summary_lines(log_dir: Path, label: str) -> list[dict[str, Any]]:
    lines: list[str] = []
    for path in sorted(log_dir.glob(f"*-{label}-env*.log")):
        lines += path.read_text(encoding="utf-8").splitlines()
    return summaries(lines)


def _inputs(entry: Mapping[str, Any]) -> list[str]:
    """The contacts (emails) of one logged batch request."""
    body = entry.get("body") or {}
    inputs = body.get("inputs", []) if isinstance(body, Mapping) else []
    return [
        str(item.get("subscriberIdString", "")) if isinstance(item, Mapping) else str(item) for item in inputs
    ]


def _portal_of_email(email: str) -> int | None:
    number = contact_number(email)
    return None if number is None else portal_of(number, PORTALS)


def _median(values: Sequence[float]) -> float:
    return round(sorted(values)[len(values) // 2], 1) if values else 0.0


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def table_rows(results: Mapping[str, Any]) -> list[str]:
    """This figure's rows of the bench table (figure, measured, target, met)."""
    rows = []
    for run in results.get("portals", []):
        each = ", ".join(
            f"{p['delivered_statuses_per_s']:,.0f}/{p['bound_statuses_per_s']:,.0f}"
            for p in run["by_portal"].values()
        )
        if run["scenario"] == "even":
            title = f"8. Three portals, each at a third of HubSpot's limit, {run['concurrency']} environments"
        else:
            title = f"8. Three portals, one at a tenth of the limit, {run['concurrency']} environments"
        measured = (
            f"{run['percent_of_bound']:.1f}% of {run['portals_judged']} x the bound "
            f"({run['delivered_statuses_per_s']:,.0f} of {run['bound_statuses_per_s']:,.0f} statuses/s; "
            f"per portal {each}); {run['percent_429']:.2f}% 429"
        )
        measured += f"; environments in the handler {run['handler_busy_percent']:.0f}% of the time"
        throttled = run.get("throttled")
        if throttled:
            measured += (
                f"; throttled portal {throttled['percent_of_bound']:.1f}% of its tenth, "
                f"{throttled['percent_429']:.2f}% 429; invocations median {run['invocation_ms_median']:,.0f} ms"
            )
        rows.append(
            f"| {title} | {measured} | >= {TARGET_PERCENT:g}% of bound, <= 1% 429 | "
            f"{'yes' if run['met'] else '**no**'} |"
        )
    return rows
