"""Figure 1, calls: HubSpot requests for the same distinct updates, the function vs the per-record baseline.

Both run the same events, one after the other, in an execution environment of their own against the
emulator with no injected latency and no rate limit: the figure is a request count, and without the
limit the baseline's 10,000 calls take seconds instead of the 9 minutes HubSpot's 190 per 10 s would
impose. That floor (calls / (190 / 10 s)) is reported next to the measured wall time. The freshness check is
off (bench.harness.CHECK_OFF): its reads are figure 7's (bench/freshness.py).
"""

from __future__ import annotations

from typing import Any

from bench.environment import Environment
from bench.harness import CHECK_OFF, World
from bench.workload import EventSpec

HUBSPOT_MAX_PER_S = 190 / 10  # Professional/Enterprise burst limit, requests per second
BASELINE_HANDLER = "bench.baseline.handler"


def run(
    world: World, updates: int = 10_000, event_size: int = 1_000, first_update: int = 0
) -> dict[str, Any]:
    specs = [EventSpec(first_update + start, event_size) for start in range(0, updates, event_size)]
    figures: dict[str, Any] = {"updates": updates, "events": len(specs), "event_records": event_size}
    detail: dict[str, dict[str, Any]] = {}
    contenders = (("function", world.settings.handler, world.code_uri), ("baseline", BASELINE_HANDLER, None))
    for name, handler, code_uri in contenders:
        world.configure_emulator()
        with Environment(
            handler, {**world.function_env(), **CHECK_OFF}, world.log_path(f"calls-{name}"), code_uri
        ) as environment:
            environment.wait_ready()
            answers = [environment.invoke(spec.to_dict()) for spec in specs]
        counters = world.emulator.counters()
        stored = len(world.emulator.snapshot()["statuses"])
        bad = [answer for answer in answers if not answer.get("ok")]
        if bad:
            raise RuntimeError(f"calls/{name}: invocation failed: {bad[0].get('error')}")
        calls = int(counters["total"])
        handler_s = sum(answer["duration_ms"] for answer in answers) / 1000
        detail[name] = {
            "calls": calls,
            "by_route": {route: sum(by.values()) for route, by in counters["by_route"].items()},
            "by_status": counters["by_status"],
            "wall_s": round(handler_s, 3),
            "end_to_end_s": round(answers[-1]["ended_at"] - answers[0]["started_at"], 3),
            "cpu_s": round(sum(answer["cpu_ms"] for answer in answers) / 1000, 3),
            "retryable": sum(answer["failures"] for answer in answers),
            "statuses_stored": stored,
            "floor_at_hubspot_limit_s": round(calls / HUBSPOT_MAX_PER_S, 1),
        }
    function, baseline = detail["function"], detail["baseline"]
    figures.update(
        {
            "function": function["calls"],
            "baseline": baseline["calls"],
            "ratio": round(baseline["calls"] / max(1, function["calls"]), 1),
            "function_wall_s": function["wall_s"],
            "baseline_wall_s": baseline["wall_s"],
            "wall_ratio": round(baseline["wall_s"] / max(1e-9, function["wall_s"]), 1),
            "function_floor_at_hubspot_limit_s": function["floor_at_hubspot_limit_s"],
            "baseline_floor_at_hubspot_limit_s": baseline["floor_at_hubspot_limit_s"],
            "detail": detail,
        }
    )
    return figures
