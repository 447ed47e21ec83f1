"""One Lambda execution environment for the bench, on the project's one worker runtime
(local.aws.runtime / local.aws.worker): a process that imports a handler once (Init) and then runs
invocations one at a time, as Lambda does. Concurrent invocations run in separate processes, so they
share nothing but the emulator and the secret, as real execution environments do.

``Environment(handler, env, log_path)`` spawns the worker at once (several Init in parallel);
``wait_ready()`` returns its Init figures; ``invoke(spec)`` builds the event from an ``EventSpec``
inside the worker, outside the timed region, and ``invoke(payload_file=PATH)`` has the worker read
and decode the raw payload as the runtime would; each returns the worker's measurements.
``request({"op": "cpu", ...})`` runs the CPU probe (bench.cpu) inside the environment. The handler's
own output (logs, EMF metrics) goes to the log file, as it would go to CloudWatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from local.aws.runtime import ExecutionEnvironment, FunctionSpec, InvokeResult

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_CODE_URI = REPO_ROOT / "functions" / "status_writer"
EVENT_FACTORY = "bench.workload:event_from_dict"
PROBES = {"cpu": "bench.cpu:probe"}  # op -> what the worker runs with the handler


class WorkerError(RuntimeError):
    """The worker failed to start, died, or did not answer in time."""


class Environment:
    """A worker process running ``handler`` with ``env`` as its function environment."""

    def __init__(
        self,
        handler: str,
        env: Mapping[str, str],
        log_path: Path,
        code_uri: Path | None = FUNCTION_CODE_URI,
        timeout_s: float = 120.0,
    ) -> None:
        self.handler = handler
        self.timeout_s = timeout_s
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        spec = FunctionSpec(
            handler=handler,
            code_uri=code_uri or REPO_ROOT,
            timeout_s=float(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout_s)),
            memory_mb=int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")),
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", "bench-status-writer"),
            environment=dict(env),
            region=env.get("AWS_REGION", "us-east-1"),
        )
        self._environment = ExecutionEnvironment(
            spec, name=log_path.stem, log_file=log_path, init_timeout_s=timeout_s, repo_importable=True
        )
        self._environment.spawn()

    @property
    def pid(self) -> int:
        return self._environment.pid

    def wait_ready(self) -> dict[str, Any]:
        """Block until Init finished; returns {"init_ms", "rss_mb"}."""
        try:
            return self._environment.wait_ready()
        except Exception as error:
            raise WorkerError(f"{self.handler} failed to start: {error} ({self.log_path})") from error

    def request(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Run one of PROBES inside the environment with `command`; returns its answer."""
        self.wait_ready()
        result = self._environment.call(PROBES[str(command["op"])], command, self.timeout_s)
        if result.status != "ok":
            return {"ok": False, "error": _error(result)}
        answer: dict[str, Any] = result.payload
        return answer

    def invoke(
        self, spec: Mapping[str, Any] | None = None, payload_file: Path | None = None
    ) -> dict[str, Any]:
        """One invocation; the worker's figures (handler time and CPU, memory, payload size)."""
        self.wait_ready()
        if payload_file is not None:
            source: dict[str, Any] = {"payload_file": str(payload_file)}
        else:
            source = {"event_from": {"factory": EVENT_FACTORY, "args": dict(spec or {})}}
        result = self._environment.invoke(source=source)
        measures = result.measures
        if result.status != "ok":
            return {"ok": False, "error": _error(result), "records": measures.get("records", 0)}
        failures = result.payload.get("batchItemFailures", []) if isinstance(result.payload, dict) else []
        return {
            "ok": True,
            "records": measures["records"],
            "failures": len(failures),
            "duration_ms": measures["handler_ms"],
            "cpu_ms": measures["cpu_ms"],
            "started_at": measures["started_at"],
            "ended_at": measures["ended_at"],
            "payload_bytes": measures["payload_bytes"],
            "rss_before_mb": measures["rss_before_mb"],
            "max_rss_mb": result.max_memory_mb,
        }

    def close(self) -> None:
        self._environment.close()

    def __enter__(self) -> Environment:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _error(result: InvokeResult) -> str:
    error = result.error or {}
    return f"{result.status}: {error.get('errorType')}: {error.get('errorMessage')}"
