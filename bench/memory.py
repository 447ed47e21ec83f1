"""Figure 5, memory: peak RSS of one execution environment handling one 10,000-record event whose JSON
payload is just under Lambda's 6 MB invocation limit. 10,000 records fit in 6 MB only when they are
lean (about 600 bytes each: the required body fields and the attributes every record has), so the
event is made of lean records, their receipt handles padded to bring it to the limit.

The payload is written to a file once; the fresh environment reads it as raw bytes and decodes it, as
the Lambda runtime does with the payload it receives, then runs the handler against the emulator (no
latency, no rate limit). The peak is the process's VmHWM (Lambda's "Max Memory Used" is the
environment's peak too); the budget is the template's FunctionMemoryMB default less 30% headroom.
"""

from __future__ import annotations

from typing import Any

from bench.environment import Environment
from bench.harness import World
from bench.workload import LAMBDA_PAYLOAD_LIMIT, lean_spec_near, payload_bytes

RECORDS = 10_000
TARGET_BYTES = LAMBDA_PAYLOAD_LIMIT - 64 * 1024  # just under the limit
HEADROOM = 0.30


def run(world: World, first_update: int = 0) -> dict[str, Any]:
    spec = lean_spec_near(first_update, RECORDS, TARGET_BYTES)
    payload = payload_bytes(spec)
    path = world.log_dir / "memory-payload.json"
    path.write_bytes(payload)
    del payload
    world.configure_emulator()
    with Environment(
        world.settings.handler, world.function_env(), world.log_path("memory"), world.code_uri
    ) as environment:
        ready = environment.wait_ready()
        answer = environment.invoke(payload_file=path)
    path.unlink()
    if not answer.get("ok") or answer["failures"]:
        raise RuntimeError(f"memory: the invocation did not apply every update: {answer}")
    limit = world.settings.memory_mb
    budget = limit * (1 - HEADROOM)
    peak = answer["max_rss_mb"]
    return {
        "records": RECORDS,
        "payload_bytes": answer["payload_bytes"],
        "payload_limit_bytes": LAMBDA_PAYLOAD_LIMIT,
        "rss_after_init_mb": ready["rss_mb"],
        "peak_rss_mb": peak,
        "limit_mb": limit,
        "budget_mb": round(budget, 1),
        "headroom_percent": round(100 * (1 - peak / limit), 1),
        "invocation_ms": round(answer["duration_ms"], 1),
    }
