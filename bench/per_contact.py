"""Figure 6, per-contact throughput: a portal without the batch scopes, where every status costs one call.

Modelled on figure 2 (bench/saturation.py): execution environments drain a backlog of events against one
rate-limited emulator and one token, here a token without the batch scopes, with the function in its
default ``auto`` mode, so each environment learns from its first 403 ``MISSING_SCOPES`` and then sends
one ``POST statuses/{subscriberIdString}`` per status (README: Outcomes, per-contact mode). The emulator
allows ``MAX`` requests per rolling ``INTERVAL_MS`` (HubSpot's 190 per 10 s scaled to 19 per 1 s) and
answers after 50-150 ms. The bound is ``MAX / interval x 1`` status per call. Delivered statuses are
counted from the emulator's request log (every 200 per-contact write) over the whole windows between
the first request and the end of the backlog or the last delivering call (figure 2's rule). The
freshness check is off (bench.harness.CHECK_OFF), so every call is a write.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from bench.harness import CHECK_OFF, TOKEN, World
from bench.saturation import backlog_end, drain_backlog, whole_window_rate

MAX = 19
INTERVAL_MS = 1_000
LATENCY_MS = (50.0, 150.0)
EVENT_RECORDS = 100
CONCURRENCY = (1, 2)
CONTACT_WRITE = "statuses/{subscriberIdString}"
BATCH_ROUTES = ("statuses/batch/write", "statuses/batch/unsubscribe-all")
TARGET_PERCENT = 90.0  # of the bound, with at most 1% of calls 429 (figure 2's target)


def bound_statuses_per_s() -> float:
    return MAX / (INTERVAL_MS / 1000)


def run(world: World, concurrency: int, seconds: float, first_update: int) -> dict[str, Any]:
    """``seconds`` of backlog at the bound, drained by ``concurrency`` environments; the figures."""
    bound = bound_statuses_per_s()
    events = max(concurrency, math.ceil(seconds * bound / EVENT_RECORDS))
    world.configure_emulator(
        rate_limit_max=MAX,
        rate_limit_interval_ms=INTERVAL_MS,
        latency_ms=LATENCY_MS[0],
        latency_max_ms=LATENCY_MS[1],
        request_log_limit=100_000,
        seed=100 + concurrency,
    )
    world.emulator.add_private_app_token(TOKEN, profile="no-batch")
    try:
        answers, _ = drain_backlog(
            world,
            f"per-contact-c{concurrency}",
            concurrency=concurrency,
            events=events,
            first_update=first_update,
            records=EVENT_RECORDS,
            stop_after_s=3 * seconds + 30,
            env=CHECK_OFF,
        )
    finally:
        world.emulator.add_private_app_token(TOKEN)  # every scope again, for the figures after this one
    return _figures(world, concurrency, events, answers, bound)


def _figures(
    world: World, concurrency: int, events: int, answers: list[dict[str, Any]], bound: float
) -> dict[str, Any]:
    log = world.emulator.request_log()
    calls = sorted((_epoch(e["at"]), e["status"]) for e in log if e["route"] == CONTACT_WRITE)
    if not calls:
        raise RuntimeError(f"per_contact c={concurrency}: no per-contact calls were made")
    batch_403 = sum(1 for e in log if e["route"] in BATCH_ROUTES and e["status"] == 403)
    delivered = [(at, 1) for at, status in calls if status == 200]  # one status a call
    throttled = sum(1 for _, status in calls if status == 429)
    windows, _, rate = whole_window_rate(delivered, calls[0][0], INTERVAL_MS / 1000, backlog_end(answers))
    return {
        "concurrency": concurrency,
        "percent_of_bound": round(100 * rate / bound, 1),
        "percent_429": round(100 * throttled / len(calls), 2),
        "delivered_statuses_per_s": round(rate, 2),
        "bound_statuses_per_s": bound,
        "calls": len(calls),
        "calls_429": throttled,
        "batch_calls_403": batch_403,
        "windows": windows,
        "events": events,
        "records": sum(answer["records"] for answer in answers),
        "statuses_stored": len(world.emulator.snapshot()["statuses"]),
        "retryable_records": sum(answer["failures"] for answer in answers),
        "emulator": {
            "rate_limit_max": MAX,
            "rate_limit_interval_ms": INTERVAL_MS,
            "latency_ms": list(LATENCY_MS),
        },
    }


def table_rows(results: dict[str, Any]) -> list[str]:
    """This figure's rows of the bench table (same columns: figure, measured, target, met)."""
    rows = []
    for run in results.get("per_contact", []):
        met = run["percent_of_bound"] >= TARGET_PERCENT and run["percent_429"] <= 1
        rows.append(
            f"| 6. Per contact (no batch scopes), {run['concurrency']} environment(s) | "
            f"{run['percent_of_bound']:.1f}% of bound ({run['delivered_statuses_per_s']:.1f} of "
            f"{run['bound_statuses_per_s']:g} statuses/s, 1 a call, over {run['windows']} windows); "
            f"{run['percent_429']:.2f}% of {run['calls']} calls 429; {run['batch_calls_403']} batch 403s | "
            f">= {TARGET_PERCENT:g}% of bound, <= 1% 429 | {'yes' if met else '**no**'} |"
        )
    return rows


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
