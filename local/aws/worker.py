"""The one Lambda worker: the process inside one local execution environment (worker side).

It imports the handler once (the Init phase), then serves invocations one at a time until its stdin
closes, as a Lambda execution environment does. The parent side is local.aws.runtime; `make run`,
`make chaos`, `make bench` and the tests all run handlers through it.

    python -m local.aws.worker --handler app.handler --code-uri DIR --response-fd N [--repo-importable]

Wire protocol (JSON lines): requests on stdin, answers on a private pipe (``--response-fd``), so the
handler's own stdout and stderr, its log stream as in CloudWatch, never mix with answers. After each
request the worker prints an end marker on stdout and stderr so the parent can attribute every log line
to its invocation.

- An invocation: ``{"request_id", "context": {...LambdaContext keywords}, <event>}`` where the event
  is ``"event": {...}``, or ``"payload_file": PATH`` (raw bytes decoded here, as the runtime decodes
  the payload it receives), or ``"event_from": {"factory": "module:function", "args": {...}}`` (built
  here, outside the timed region). The answer carries the handler's JSON result or Lambda's error
  document, plus ``measures``: the handler's wall and CPU time, its records, the payload's size and the
  process's memory before and at its peak.
- ``{"op": "call", "request_id", "target": "module:function", "args": {...}}`` runs
  ``target(handler, args)`` in this environment and answers with its JSON result (the bench's probes).

Between invocations the worker only reads the next request, as Lambda's runtime does: it collects no
garbage then. A full collection after each 1,000-record invocation took ~110 ms beside three other
environments, a gap between invocations that Lambda does not have and that figures 2 and 8 counted
against the function (the probes collect before they measure, bench.cpu).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from local.aws.context import LambdaContext

END_MARKER = "__local_lambda_runtime_end__"
REPO_ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[Any, Any], Any]


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The error document Lambda returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def resolve(target: str, separator: str = ":") -> Any:
    """Import ``module<separator>name`` and return the attribute."""
    module_name, _, name = target.rpartition(separator)
    if not module_name or not name:
        raise ValueError(f"{target!r} is not of the form module{separator}name")
    return getattr(importlib.import_module(module_name), name)


def load_handler(code_uri: Path, handler: str) -> Handler:
    """Import ``module.function`` from the CodeUri the way the runtime does (CodeUri first on sys.path)."""
    sys.path.insert(0, str(code_uri))
    function = resolve(handler, ".")
    if not callable(function):
        raise TypeError(f"{handler} is not callable")
    return function  # type: ignore[no-any-return]


def max_rss_mb() -> float:
    """Peak RSS of this process: VmHWM, the high-water mark of its own address space. Not ru_maxrss: on
    Linux a child started by fork+exec inherits its parent's ru_maxrss, so a worker of a big parent
    would report the parent's size, not its own."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    """Resident memory of this process now."""
    with contextlib.suppress(OSError), open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return max_rss_mb()


def _isolate_sys_path() -> None:
    """Drop the repository root that `python -m` put on sys.path: the handler sees only its CodeUri and
    the installed packages, as in Lambda (where the layer is on the path instead)."""
    root = str(REPO_ROOT)
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".", root, os.getcwd())]


def _event(request: Mapping[str, Any]) -> tuple[Any, int]:
    """The invocation's event and the size of its raw payload (0 unless read from a file)."""
    if "payload_file" in request:
        raw = Path(request["payload_file"]).read_bytes()
        return json.loads(raw), len(raw)
    if "event_from" in request:
        source = request["event_from"]
        return resolve(str(source["factory"]))(source.get("args") or {}), 0
    return request.get("event"), 0


class _Worker:
    """The worker's loop: read a request, run it, answer, mark the end of its logs."""

    def __init__(self, answer: IO[bytes], handler: Handler) -> None:
        self.answer = answer
        self.handler = handler

    def send(self, document: Mapping[str, Any]) -> None:
        self.answer.write(json.dumps(document, separators=(",", ":")).encode() + b"\n")
        self.answer.flush()

    def serve(self) -> int:
        for line in sys.stdin.buffer:
            if not line.strip():
                continue
            request = json.loads(line)
            answer, exit_code = self._call(request) if request.get("op") == "call" else self._invoke(request)
            _mark_end(str(request.get("request_id")))
            self.send(answer)
            del request, answer
            if exit_code is not None:
                return exit_code
        return 0  # stdin closed: the parent is gone or wants us to stop

    def _invoke(self, request: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
        request_id = str(request["request_id"])
        answer: dict[str, Any] = {"type": "result", "request_id": request_id, "ok": False}
        rss_before = current_rss_mb()
        event, payload_bytes = _event(request)
        context = LambdaContext(aws_request_id=request_id, **request["context"])
        records = event.get("Records") if isinstance(event, dict) else None
        exit_code: int | None = None
        started_at = time.time()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            result = self.handler(event, context)
        except Exception as exc:
            answer["error"] = error_payload(exc)
            _print_error(exc)
        except BaseException as exc:  # sys.exit() in a handler ends the runtime: Lambda resets it
            answer["error"] = error_payload(exc, "Runtime.ExitError")
            exit_code = 1
        else:
            try:  # the runtime serialises the answer; a non-JSON answer is an invocation error
                answer["payload"] = json.loads(json.dumps(result))
                answer["ok"] = True
            except (TypeError, ValueError) as exc:
                answer["error"] = error_payload(exc, "Runtime.MarshalError")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        answer["max_memory_mb"] = round(max_rss_mb(), 1)
        answer["measures"] = {
            "handler_ms": round(wall * 1000, 3),
            "cpu_ms": round(cpu * 1000, 3),
            "started_at": started_at,
            "ended_at": started_at + wall,
            "records": len(records) if isinstance(records, list) else 0,
            "payload_bytes": payload_bytes,
            "rss_before_mb": round(rss_before, 1),
        }
        return answer, exit_code

    def _call(self, request: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
        answer: dict[str, Any] = {"type": "result", "request_id": str(request["request_id"]), "ok": False}
        try:
            answer["payload"] = resolve(str(request["target"]))(self.handler, request.get("args") or {})
            answer["ok"] = True
        except Exception as exc:
            answer["error"] = error_payload(exc)
            _print_error(exc)
        return answer, None


def _print_error(exc: BaseException) -> None:
    sys.stderr.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))}")


def _mark_end(request_id: str) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.write(f"\n{END_MARKER} {request_id}\n")
            stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process: Init (import the handler once), then serve requests."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--code-uri", required=True, type=Path)
    parser.add_argument("--response-fd", required=True, type=int)
    parser.add_argument(
        "--repo-importable",
        action="store_true",
        help="keep the repository on sys.path (the bench's probes and event factories live there)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    answer = os.fdopen(args.response_fd, "wb")
    if not args.repo_importable:
        _isolate_sys_path()
    started = time.monotonic()
    try:
        handler = load_handler(args.code_uri.resolve(), args.handler)
    except BaseException as exc:
        _print_error(exc)
        answer.write(json.dumps({"type": "init_error", "error": error_payload(exc)}).encode() + b"\n")
        answer.flush()
        return 1
    worker = _Worker(answer, handler)
    worker.send(
        {
            "type": "ready",
            "pid": os.getpid(),
            "init_ms": round((time.monotonic() - started) * 1000, 1),
            "rss_mb": round(max_rss_mb(), 1),
        }
    )
    return worker.serve()


if __name__ == "__main__":
    sys.exit(main())
