"""Test handlers for the local runtime and poller tests (never the product's handler).

Each handler prints one JSON log line describing what it saw, so tests can check the event, the
context and the per-environment module state from the captured logs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

INVOCATIONS = 0  # module state: survives between invocations while the environment is warm
LOADED_AT = time.time()


def _probe(received: dict[str, Any], context: Any, **extra: Any) -> None:
    global INVOCATIONS  # noqa: PLW0603 - the module state under test
    INVOCATIONS += 1
    print(
        json.dumps(
            {
                "message": "probe",
                "pid": os.getpid(),
                "invocations": INVOCATIONS,
                "loaded_at": LOADED_AT,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "request_id": context.aws_request_id,
                "memory": context.memory_limit_in_mb,
                "function_name": context.function_name,
                "message_ids": [r["messageId"] for r in received.get("Records", [])],
                "env_marker": os.environ.get("PROBE_MARKER"),
                "aws_profile": os.environ.get("AWS_PROFILE"),
                "repository_on_path": any(
                    os.path.isfile(os.path.join(p or ".", "pyproject.toml")) for p in sys.path
                ),
                **extra,
            }
        ),
        flush=True,
    )


def _bodies(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
        except ValueError:
            body = {}
        out.append((record["messageId"], body if isinstance(body, dict) else {}))
    return out


def ok(event: dict[str, Any], context: Any) -> None:
    """Succeeds for every record (returns None: Lambda deletes the whole batch), after sleeping
    PROBE_SLEEP_S seconds if that is set."""
    _probe(event, context)
    time.sleep(float(os.environ.get("PROBE_SLEEP_S", "0")))


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns the event it received inside a log line and reports no failures."""
    _probe(event, context, event=event)
    return {"batchItemFailures": []}


def fail_marked(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports the records whose body has "fail": true as failures."""
    _probe(event, context)
    failed = [mid for mid, body in _bodies(event) if body.get("fail")]
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failed]}


def raise_error(event: dict[str, Any], context: Any) -> None:
    """Raises: the whole batch must be retried."""
    _probe(event, context)
    raise RuntimeError("boom")


def sleep_past_timeout(event: dict[str, Any], context: Any) -> None:
    """Sleeps beyond the remaining time: the invocation times out."""
    _probe(event, context)
    time.sleep(context.get_remaining_time_in_millis() / 1000 + 5)


def exit_process(event: dict[str, Any], context: Any) -> None:
    """Calls sys.exit: the runtime dies, the environment is replaced."""
    _probe(event, context)
    sys.exit(3)


def not_json(event: dict[str, Any], context: Any) -> object:
    """Returns something the runtime cannot serialise."""
    _probe(event, context)
    return object()


def answer_from_env(event: dict[str, Any], context: Any) -> Any:
    """Returns the answer named by the first record's body ("answer" key), with "$first" replaced by
    the first record's messageId: lets one handler produce every malformed shape."""
    _probe(event, context)
    first_id, body = _bodies(event)[0]
    raw = json.dumps(body.get("answer"))
    return json.loads(raw.replace("$first", first_id))


def event_of(args: dict[str, Any]) -> dict[str, Any]:
    """An event factory (the worker builds the event from it): `count` records m-0, m-1, ..."""
    return {"Records": [{"messageId": f"m-{n}", "body": "{}"} for n in range(int(args["count"]))]}


def count_records(handler: Any, args: dict[str, Any]) -> dict[str, Any]:
    """A probe run inside the environment with its handler (the bench's CPU probe works this way)."""
    return {"handler": handler.__name__, "invocations_so_far": INVOCATIONS, "args": args}
