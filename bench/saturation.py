"""Figure 2, saturation: several execution environments draining a backlog of 1,000-record events
against one rate-limited emulator and one token, as MaximumConcurrency would run them.

The emulator allows ``MAX`` requests per rolling ``INTERVAL_MS`` (HubSpot's 190 per 10 s, scaled to 19 per
1 s: the same rate, so the bound is HubSpot's real 1,900 statuses/s, while a 20 s run spans 20 windows)
and answers each request after 50-150 ms (uniform), a realistic HubSpot latency. The bound is
``MAX / interval x 100`` inputs per call. Delivered statuses are counted from the emulator's request log
(arrival time and inputs of every 200 batch/write) over the whole windows that fit between the first
request and the end of the backlog (``backlog_end``), so the figure can never exceed 100% by a partial
window, nor count the end of the drain, when environments that finish find nothing more to take.
"""

from __future__ import annotations

import math
import queue
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.environment import Environment
from bench.harness import CHECK_OFF, World
from bench.workload import EventSpec, payload_bytes

MAX = 19
INTERVAL_MS = 1_000
LATENCY_MS = (50.0, 150.0)
EVENT_RECORDS = 1_000
INPUTS_PER_CALL = 100
BIN_S = 0.5  # resolution of the time series behind the plot


def bound_statuses_per_s() -> float:
    return MAX / (INTERVAL_MS / 1000) * INPUTS_PER_CALL


def run(world: World, concurrency: int, seconds: float, first_update: int) -> dict[str, Any]:
    bound = bound_statuses_per_s()
    events = math.ceil(seconds * bound / EVENT_RECORDS)
    world.configure_emulator(
        rate_limit_max=MAX,
        rate_limit_interval_ms=INTERVAL_MS,
        latency_ms=LATENCY_MS[0],
        latency_max_ms=LATENCY_MS[1],
        request_log_limit=100_000,
        seed=concurrency,
    )
    answers, left_over = drain_backlog(
        world,
        f"saturation-c{concurrency}",
        concurrency=concurrency,
        events=events,
        first_update=first_update,
        records=EVENT_RECORDS,
        stop_after_s=3 * seconds + 30,
        env=CHECK_OFF,
    )
    figures = _figures(world, concurrency, events, answers, bound)
    figures["events_left_undelivered"] = max(left_over, default=0)
    return figures


def drain_backlog(
    world: World,
    label: str,
    *,
    concurrency: int,
    events: int,
    first_update: int,
    records: int,
    stop_after_s: float,
    env: Mapping[str, str] | None = None,
    portals: tuple[int, ...] = (),
) -> tuple[list[dict[str, Any]], list[int]]:
    """``events`` events of ``records`` updates each, drained by ``concurrency`` environments (Init
    before the clock starts; a slow run ends after ``stop_after_s`` rather than run for minutes).
    ``env`` overrides the function's environment; with ``portals`` every update names its portal
    (bench.workload.portal_of). Returns the answers and the events left when time ran out; raises on
    any error (figures 2, 6, 7 and 8).

    Every event's payload is written to a file while the environments Init, before the clock starts,
    and an environment reads and decodes it as the Lambda runtime decodes what SQS's poller hands it.
    Built inside the environment between invocations instead (40-50 ms per 1,000-record event on an
    idle core here, more beside the handlers on two cores), it left a gap between invocations that
    Lambda does not have."""
    environments = [
        Environment(
            world.settings.handler,
            {**world.function_env(), **(env or {})},
            world.log_path(f"{label}-env{slot}"),
            world.code_uri,
        )
        for slot in range(concurrency)
    ]
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as directory:
            backlog: queue.Queue[Path] = queue.Queue()
            for index in range(events):
                path = Path(directory) / f"event-{index:05d}.json"
                path.write_bytes(
                    payload_bytes(EventSpec(first_update + index * records, records, portals=portals))
                )
                backlog.put(path)
            for environment in environments:  # Init (imports) happens before the measured run starts
                environment.wait_ready()
            answers, errors, left_over = _drain(environments, backlog, time.monotonic() + stop_after_s)
    finally:
        for environment in environments:
            environment.close()
    errors.extend(str(answer.get("error")) for answer in answers if not answer.get("ok"))
    if errors:
        raise RuntimeError(f"{label}: {errors[0]}")
    return answers, left_over


def _drain(
    environments: list[Environment], backlog: queue.Queue[Path], stop_at: float
) -> tuple[list[dict[str, Any]], list[str], list[int]]:
    """Every environment takes the next event from the backlog until it is empty (or `stop_at`);
    returns the answers, the errors, and the events left when time ran out."""
    answers: list[dict[str, Any]] = []
    errors: list[str] = []
    left_over: list[int] = []
    lock = threading.Lock()

    def drain(environment: Environment) -> None:
        while time.monotonic() <= stop_at:
            try:
                payload = backlog.get_nowait()
            except queue.Empty:
                return
            try:
                answer = environment.invoke(payload_file=payload)
            except Exception as error:  # reported, not raised: the other environments finish the backlog
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                return
            with lock:
                answers.append(answer)
        with lock:
            left_over.append(backlog.qsize())

    threads = [threading.Thread(target=drain, args=(environment,)) for environment in environments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, errors, left_over


def _figures(
    world: World, concurrency: int, events: int, answers: list[dict[str, Any]], bound: float
) -> dict[str, Any]:
    log = [entry for entry in world.emulator.request_log() if entry["route"] == "statuses/batch/write"]
    counters = world.emulator.counters()
    calls = [
        (_epoch(entry["at"]), entry["status"], len((entry.get("body") or {}).get("inputs", [])))
        for entry in log
    ]
    calls.sort()
    total = len(calls)
    if total == 0:
        raise RuntimeError(f"saturation c={concurrency}: no HubSpot calls were made")
    throttled = sum(1 for _, status, _ in calls if status == 429)
    delivered_calls = [(at, inputs) for at, status, inputs in calls if status == 200]
    start = calls[0][0]
    last = delivered_calls[-1][0]
    windows, measured_s, rate = whole_window_rate(
        delivered_calls, start, INTERVAL_MS / 1000, until=backlog_end(answers)
    )
    whole_run = whole_window_rate(delivered_calls, start, INTERVAL_MS / 1000)[2]
    series = _series(delivered_calls, start, last)
    throttled_at = [round(at - start, 3) for at, status, _ in calls if status == 429]
    records = sum(answer["records"] for answer in answers)
    retryable = sum(answer["failures"] for answer in answers)
    return {
        "concurrency": concurrency,
        "percent_of_bound": round(100 * rate / bound, 1),
        "percent_of_bound_to_last_delivery": round(100 * whole_run / bound, 1),  # the end of the drain too
        "percent_429": round(100 * throttled / total, 2),
        "delivered_statuses_per_s": round(rate, 1),
        "bound_statuses_per_s": bound,
        "calls": total,
        "calls_429": throttled,
        "windows": windows,
        "measured_s": round(measured_s, 3),
        "run_s": round(max(a["ended_at"] for a in answers) - min(a["started_at"] for a in answers), 3),
        "events": events,
        "records": records,
        "statuses_delivered": sum(inputs for _, inputs in delivered_calls),
        "statuses_stored": len(world.emulator.snapshot()["statuses"]),
        "retryable_records": retryable,
        "invocation_ms_median": round(sorted(a["duration_ms"] for a in answers)[len(answers) // 2], 1),
        "emulator_by_status": counters["by_status"],
        "series": series,
        "throttled_at_s": throttled_at,
    }


def backlog_end(answers: Sequence[Mapping[str, Any]]) -> float:
    """When the last event of the backlog was handed out (the start of its invocation, epoch seconds).
    From then on an environment that finishes finds nothing more to take, so the calls still made
    measure how the drain ends, not what the function can deliver (figures 2, 6, 7 and 8)."""
    if not answers:
        raise ValueError("no invocation")
    return max(float(answer["started_at"]) for answer in answers)


def whole_window_rate(
    delivered_calls: Sequence[tuple[float, int]], start: float, interval_s: float, until: float = math.inf
) -> tuple[int, float, float]:
    """Statuses/s over the whole rate-limit windows from ``start`` (the first request) to the last
    delivering call or to ``until`` (``backlog_end``), whichever is first: (windows, their seconds,
    the statuses delivered in them per second). Calls are (arrival time, statuses delivered). A
    partial last window is left out, so the rate can never exceed the bound by one; at least one
    window is counted."""
    if not delivered_calls:
        raise ValueError("no delivering call")
    if interval_s <= 0:
        raise ValueError(f"the interval must be positive, got {interval_s}")
    last = max(at for at, _ in delivered_calls)
    windows = max(1, math.floor((min(last, until) - start) / interval_s))
    measured_s = windows * interval_s
    delivered = sum(inputs for at, inputs in delivered_calls if at < start + measured_s)
    return windows, measured_s, delivered / measured_s


def _series(delivered_calls: list[tuple[float, int]], start: float, last: float) -> list[list[float]]:
    """[seconds since the first request, statuses/s] per BIN_S bin, by arrival time."""
    bins = [0] * (math.floor((last - start) / BIN_S) + 1)
    for at, inputs in delivered_calls:
        bins[min(len(bins) - 1, math.floor((at - start) / BIN_S))] += inputs
    return [[round(index * BIN_S, 3), round(count / BIN_S, 1)] for index, count in enumerate(bins)]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
