"""Figure 7, the freshness check (README: Outcomes, HubSpot-side changes): what reading HubSpot's state
before writing costs, and what it saves.

- ``calls``: figure 1's workload (10,000 distinct updates, 10 events of 1,000 records, one warm
  environment, no latency, no rate limit) with ``HUBSPOT_FRESHNESS_CHECK`` ``all``, ``subscribed`` and
  ``off``, the emulator reset between them; reads and writes counted from the emulator's counters.
- ``no_op``: the same updates, with HubSpot seeded first through its HubSpot-side writers
  (``emulator.actor``, not an API call, so not counted) at a time older than every update: 30% of the
  contacts already hold the state their update sends, the others the opposite one. Reported per mode:
  the share of updates skipped (the summary line's ``unchanged_in_hubspot`` / updates) and the calls
  against ``off``.
- ``saturation``: figure 2 with the check ``all``. Each chunk of 100 contacts costs two reads before
  its write, so the bound is the emulator's calls/s x 100 x (writes / all calls), the share of writes
  taken from the calls of the whole windows the rate is counted over; 429s as a share of all calls,
  reads included.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bench import saturation
from bench.environment import Environment
from bench.harness import FRESHNESS_VARIABLE, World
from bench.workload import EventSpec, body

MODES = ("all", "subscribed", "off")
READ_ROUTES = ("statuses/batch/read", "statuses/batch/unsubscribe-all/read")
WRITE_ROUTES = ("statuses/batch/write", "statuses/batch/unsubscribe-all")
WRITE_ROUTE = "statuses/batch/write"
NO_OP_PERCENT = 30  # of the contacts hold the state their update sends (n % 100 < 30)
SEEDED_AT = "2026-11-26T08:00:00Z"  # older than every update's occurredAt (bench/workload.py: 09:MM:SS)
SUMMARY = "batch processed"
SATURATION_MODE = "all"
TARGET_PERCENT = 90.0  # of the bound, with at most 1% of calls 429 (figure 2's target)


def bound_with_reads(
    max_calls: int, interval_ms: int, inputs_per_call: int, writes: int, calls: int
) -> float:
    """Statuses/s the rate limit allows when only ``writes`` of ``calls`` carry statuses: the emulator's
    calls/s x inputs per call x the writes' share of the calls."""
    if calls <= 0 or not 0 <= writes <= calls:
        raise ValueError(f"writes {writes} must be between 0 and calls {calls}, calls > 0")
    return max_calls / (interval_ms / 1000) * inputs_per_call * writes / calls


def share_percent(part: int, whole: int) -> float:
    """``part`` as a percentage of ``whole`` (0 when there is no whole), one decimal."""
    return round(100 * part / whole, 1) if whole else 0.0


def saved_percent(calls: int, off_calls: int) -> float:
    """Calls saved against the check ``off``, as a percentage of its calls (negative: extra calls)."""
    return share_percent(off_calls - calls, off_calls)


def held_by_hubspot(n: int) -> bool:
    """Whether update ``n``'s contact already holds, in the no-op workload, the state the update sends."""
    return n % 100 < NO_OP_PERCENT


def calls(world: World, first_update: int, updates: int = 10_000, event_size: int = 1_000) -> dict[str, Any]:
    """The calls of each mode for the same updates, with HubSpot empty before each."""
    return _modes(world, "calls", first_update, updates, event_size, seed=False)


def no_op(world: World, first_update: int, updates: int = 10_000, event_size: int = 1_000) -> dict[str, Any]:
    """The calls and skipped updates of each mode, HubSpot seeded before each (module docstring)."""
    return _modes(world, "no-op", first_update, updates, event_size, seed=True)


def _modes(
    world: World, label: str, first_update: int, updates: int, event_size: int, *, seed: bool
) -> dict[str, Any]:
    specs = [EventSpec(first_update + start, event_size) for start in range(0, updates, event_size)]
    by_mode = {mode: _one_mode(world, f"{label}-{mode}", mode, specs, seed) for mode in MODES}
    off = by_mode["off"]["calls"]
    for figures in by_mode.values():
        figures["calls_against_off"] = figures["calls"] - off
        figures["saved_against_off_percent"] = saved_percent(figures["calls"], off)
    return {
        "updates": updates,
        "events": len(specs),
        "event_records": event_size,
        "seeded_same_state_percent": NO_OP_PERCENT if seed else 0,
        "by_mode": by_mode,
    }


def _one_mode(world: World, label: str, mode: str, specs: list[EventSpec], seed: bool) -> dict[str, Any]:
    world.configure_emulator()
    if seed:
        _seed(world, (n for spec in specs for n in range(spec.start, spec.start + spec.count)))
    log_path = world.log_path(f"freshness-{label}")
    env = {**world.function_env(), FRESHNESS_VARIABLE: mode}
    with Environment(world.settings.handler, env, log_path, world.code_uri) as environment:
        environment.wait_ready()
        answers = [environment.invoke(spec.to_dict()) for spec in specs]
    bad = [answer for answer in answers if not answer.get("ok")]
    if bad:
        raise RuntimeError(f"freshness {label}: invocation failed: {bad[0].get('error')}")
    by_route = {r: sum(by.values()) for r, by in world.emulator.counters()["by_route"].items()}
    reads = sum(by_route.get(route, 0) for route in READ_ROUTES)
    writes = sum(by_route.get(route, 0) for route in WRITE_ROUTES)
    summary = summed(summaries(log_path.read_text(encoding="utf-8").splitlines()))
    records = sum(answer["records"] for answer in answers)
    return {
        "mode": mode,
        "calls": sum(by_route.values()),
        "reads": reads,
        "writes": writes,
        "by_route": by_route,
        "hubspot_calls_logged": summary.get("hubspot_calls", 0),
        "unchanged_in_hubspot": summary.get("unchanged_in_hubspot", 0),
        "superseded_by_hubspot": summary.get("superseded_by_hubspot", 0),
        "applied": summary.get("applied", 0),
        "unchanged_percent": share_percent(summary.get("unchanged_in_hubspot", 0), records),
        "retryable": sum(answer["failures"] for answer in answers),
        "wall_s": round(sum(answer["duration_ms"] for answer in answers) / 1000, 3),
    }


def _seed(world: World, numbers: Iterable[int]) -> None:
    """Every contact gets its key's status from HubSpot's side, older than its update: the update's
    state for ``held_by_hubspot`` contacts, the opposite for the others."""
    for n in numbers:
        update = body(n)
        state = update["statusState"]
        if not held_by_hubspot(n):
            state = "UNSUBSCRIBED" if state == "SUBSCRIBED" else "SUBSCRIBED"
        world.emulator.actor(
            {
                "email": update["subscriberIdString"],
                "action": "status",
                "subscription_id": update["subscriptionId"],
                "state": state,
                "timestamp": SEEDED_AT,
                "source": "CRM_UI",
            }
        )


def summaries(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The handler's summary lines (README: Observability) among an environment's log lines."""
    found = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == SUMMARY:
            found.append(record)
    return found


def summed(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The integer fields of the summary lines, added up."""
    total: dict[str, int] = {}
    for record in records:
        for name, value in record.items():
            if type(value) is int:
                total[name] = total.get(name, 0) + value
    return total


def saturation_run(world: World, concurrency: int, seconds: float, first_update: int) -> dict[str, Any]:
    """Figure 2's backlog and emulator with the check ``all``; the bound from the run's share of writes."""
    nominal = bound_with_reads(
        saturation.MAX, saturation.INTERVAL_MS, saturation.INPUTS_PER_CALL, 1, 1 + len(READ_ROUTES)
    )
    events = math.ceil(seconds * nominal / saturation.EVENT_RECORDS)
    world.configure_emulator(
        rate_limit_max=saturation.MAX,
        rate_limit_interval_ms=saturation.INTERVAL_MS,
        latency_ms=saturation.LATENCY_MS[0],
        latency_max_ms=saturation.LATENCY_MS[1],
        request_log_limit=100_000,
        seed=200 + concurrency,
    )
    answers, left_over = saturation.drain_backlog(
        world,
        f"freshness-saturation-c{concurrency}",
        concurrency=concurrency,
        events=events,
        first_update=first_update,
        records=saturation.EVENT_RECORDS,
        stop_after_s=3 * seconds + 30,
        env={FRESHNESS_VARIABLE: SATURATION_MODE},
    )
    figures = saturation_figures(world.emulator.request_log(), concurrency, saturation.backlog_end(answers))
    figures.update(
        {
            "mode": SATURATION_MODE,
            "events": events,
            "records": sum(answer["records"] for answer in answers),
            "retryable_records": sum(answer["failures"] for answer in answers),
            "events_left_undelivered": max(left_over, default=0),
            "nominal_bound_statuses_per_s": round(nominal, 1),
        }
    )
    return figures


def _writes_and_reads(routes: Iterable[str]) -> tuple[int, int]:
    """How many of ``routes`` are batch writes (either kind), and how many the check's reads."""
    kinds = Counter("write" if r in WRITE_ROUTES else "read" if r in READ_ROUTES else "" for r in routes)
    return kinds["write"], kinds["read"]


def saturation_figures(
    log: list[dict[str, Any]], concurrency: int, until: float = math.inf
) -> dict[str, Any]:
    """Delivered statuses/s (inputs of 200 batch writes, by arrival) over the whole rate-limit windows
    between the first request of any route and ``until`` (the end of the backlog) or the last
    delivering write, whichever is first (figure 2's rule), against the bound the share
    of writes among the calls of those same windows allows (an invocation reads first and writes
    last, so the cut-off last part of a window holds writes only)."""
    calls = sorted(
        (_epoch(e["at"]), e["route"], e["status"], len((e.get("body") or {}).get("inputs", []))) for e in log
    )
    delivering = [
        (at, inputs) for at, route, status, inputs in calls if route == WRITE_ROUTE and status == 200
    ]
    if not delivering:
        raise RuntimeError(f"freshness saturation c={concurrency}: no batch write was answered 200")
    writes, reads = _writes_and_reads(route for _, route, _, _ in calls)
    throttled = sum(1 for _, _, status, _ in calls if status == 429)
    start = calls[0][0]
    windows, measured_s, rate = saturation.whole_window_rate(
        delivering, start, saturation.INTERVAL_MS / 1000, until
    )
    writes_in, reads_in = _writes_and_reads(route for at, route, _, _ in calls if at < start + measured_s)
    bound = bound_with_reads(
        saturation.MAX, saturation.INTERVAL_MS, saturation.INPUTS_PER_CALL, writes_in, writes_in + reads_in
    )
    return {
        "concurrency": concurrency,
        "percent_of_bound": round(100 * rate / bound, 1),
        "percent_429": round(100 * throttled / len(calls), 2),
        "delivered_statuses_per_s": round(rate, 1),
        "bound_statuses_per_s": round(bound, 1),
        "calls": len(calls),
        "reads": reads,
        "writes": writes,
        "writes_in_windows": writes_in,
        "reads_in_windows": reads_in,
        "calls_429": throttled,
        "windows": windows,
        "measured_s": round(measured_s, 3),
    }


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def table_rows(results: Mapping[str, Any]) -> list[str]:
    """This figure's rows of the bench table (figure, measured, target, met)."""
    figure = results.get("freshness") or {}
    rows = []
    for name, title in (("calls", "calls"), ("no_op", "30% already in HubSpot")):
        part = figure.get(name)
        if not part:
            continue
        cells = "; ".join(_mode_cell(m) for m in part["by_mode"].values())
        rows.append(f"| 7. Freshness check, {title}, {part['updates']:,} updates | {cells} | reported | - |")
    for run in figure.get("saturation", []):
        met = run["percent_of_bound"] >= TARGET_PERCENT and run["percent_429"] <= 1
        rows.append(
            f"| 7. Saturation, check `{run['mode']}`, {run['concurrency']} environments | "
            f"{run['percent_of_bound']:.1f}% of bound ({run['delivered_statuses_per_s']:,.0f} of "
            f"{run['bound_statuses_per_s']:,.0f} statuses/s: {run['writes']} writes of {run['calls']} calls); "
            f"{run['percent_429']:.2f}% 429 | >= {TARGET_PERCENT:g}% of bound, <= 1% 429 | "
            f"{'yes' if met else '**no**'} |"
        )
    return rows


def _mode_cell(mode: Mapping[str, Any]) -> str:
    skipped = f", {mode['unchanged_percent']:g}% skipped" if mode["unchanged_in_hubspot"] else ""
    return (
        f"`{mode['mode']}` {mode['calls']} calls ({mode['reads']} reads + {mode['writes']} writes{skipped}, "
        f"{mode['calls_against_off']:+d} vs off)"
    )
