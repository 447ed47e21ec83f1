"""A local stand-in for one Lambda execution environment (parent side of local.aws.worker).

Why a process per slot: in Lambda each concurrent invocation runs in its own execution environment, and
module state (clients, caches, the secret) lives there and is reused while the environment is warm. So
each slot gets one worker process that imports the handler once (the Init phase) and then serves
invocations one at a time until it times out, crashes or is stopped; the next invocation after a
timeout or crash starts a fresh worker (a cold start), as Lambda resets the environment.

`ExecutionEnvironment` spawns the worker, invokes it with the function timeout, captures its logs per
invocation and stops it; `call` runs a probe inside it (the bench). The wire protocol is in
local.aws.worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.aws.worker import END_MARKER, REPO_ROOT

DEFAULT_INIT_TIMEOUT_S = 60.0  # Lambda allows 10 s; a 2-core machine starting several workers needs slack
_MARKER_WAIT_S = 2.0  # how long to wait for the log streams to catch up with an answer


@dataclass(frozen=True)
class FunctionSpec:
    """What the parent needs to run a function: from the template's handler, CodeUri, timeout, memory
    and environment (already resolved to local values)."""

    handler: str
    code_uri: Path
    timeout_s: float
    memory_mb: int = 128
    function_name: str = "local-function"
    environment: Mapping[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    account_id: str = "123456789012"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"


@dataclass
class InvokeResult:
    """One invocation as Lambda's synchronous Invoke reports it, plus the logs it wrote.

    status: ``ok`` (payload is the handler's JSON answer), ``error`` (unhandled exception), ``timeout``
    (killed at the deadline) or ``crash`` (the worker died).
    """

    request_id: str
    status: str
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    cold_start: bool = False
    init_ms: float | None = None
    pid: int = 0
    max_memory_mb: float | None = None
    log_lines: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)  # the worker's own figures (local.aws.worker)

    @property
    def log_records(self) -> list[dict[str, Any]]:
        """The log lines that are JSON objects (structured logs such as Powertools')."""
        records = []
        for line in self.log_lines:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    parsed = json.loads(line)
                    if isinstance(parsed, dict):
                        records.append(parsed)
        return records


class _EndMarker:
    """Set once both log streams (stdout and stderr) have shown an invocation's end marker."""

    def __init__(self) -> None:
        self.seen = threading.Event()
        self._streams = 0
        self._lock = threading.Lock()

    def stream_done(self) -> None:
        with self._lock:
            self._streams += 1
            if self._streams >= 2:
                self.seen.set()


class InitError(RuntimeError):
    """The handler could not be imported (Lambda's Runtime.ImportModuleError and friends)."""

    def __init__(self, error: Mapping[str, Any] | None, logs: list[str]) -> None:
        self.error = dict(error or {})
        self.logs = logs
        detail = self.error.get("errorMessage", "the worker exited during Init")
        super().__init__(f"{self.error.get('errorType', 'InitError')}: {detail}")


def base_environment(spec: FunctionSpec, log_stream: str) -> dict[str, str]:
    """A clean environment as Lambda builds it: the function's variables plus the runtime's own.

    Nothing is inherited from the caller's environment except PATH/locale, so a developer's AWS
    profile or real credentials can never reach the handler.
    """
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TZ") if name in os.environ}
    env.update(
        {
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout_s)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_SAM_LOCAL": "true",  # what `sam local` sets; Powertools then skips X-Ray
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(spec.code_uri.resolve()),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(spec.environment)
    return env


class ExecutionEnvironment:
    """One execution environment: a warm worker process, replaced after a timeout or a crash."""

    def __init__(
        self,
        spec: FunctionSpec,
        name: str = "env-0",
        log_file: Path | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        repo_importable: bool = False,
    ) -> None:
        self.spec = spec
        self.repo_importable = repo_importable
        self.ready: dict[str, Any] = {}  # the worker's Init answer: pid, init_ms, rss_mb
        self.name = name
        self.init_timeout_s = init_timeout_s
        self._log_file = log_file.open("a", encoding="utf-8") if log_file else None
        self._log_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lines: list[str] = []
        self._markers: dict[str, _EndMarker] = {}
        self._streams_open = 0
        self._cold = True
        self._init_ms: float | None = None
        self.cold_starts = 0
        self.pid = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start a worker and wait for its Init to finish (raises InitError if the handler fails to load)."""
        if not self.alive:
            self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Start a worker process without waiting for its Init (several environments Init at once)."""
        read_fd, write_fd = os.pipe()
        self._answers = queue.Queue()
        self._lines = []
        self.ready = {}
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        command = [sys.executable, "-m", "local.aws.worker", "--handler", self.spec.handler]
        command += ["--code-uri", str(self.spec.code_uri.resolve()), "--response-fd", str(write_fd)]
        if self.repo_importable:
            command.append("--repo-importable")
        try:
            self._process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=base_environment(self.spec, stream),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,  # Ctrl-C reaches only the parent, which stops us in order
            )
        finally:
            os.close(write_fd)
        self.pid = self._process.pid
        self._streams_open = 2
        answers = os.fdopen(read_fd, "rb")
        for target, args in (
            (self._read_answers, (answers, self._answers)),
            (self._read_logs, (self._process.stdout,)),
            (self._read_logs, (self._process.stderr,)),
        ):
            threading.Thread(target=target, args=args, daemon=True, name=f"{self.name}-io").start()
        self._write_log(
            f"INIT_START Runtime Version: python:{sys.version_info.major}.{sys.version_info.minor}"
        )

    def wait_ready(self) -> dict[str, Any]:
        """Wait for the spawned worker's Init; returns its answer (pid, init_ms, rss_mb)."""
        if self.ready:
            return self.ready
        try:
            first = self._answers.get(timeout=self.init_timeout_s)
        except queue.Empty:
            self.stop()
            raise InitError(
                {"errorType": "Runtime.InitTimeout", "errorMessage": "Init timed out"}, []
            ) from None
        if first is None or first.get("type") != "ready":
            self._wait_for_streams()
            logs = list(self._lines)
            self.stop()
            raise InitError(first.get("error") if first else None, logs)
        self.ready = first
        self._init_ms = float(first.get("init_ms", 0.0))
        self._cold = True
        self.cold_starts += 1
        return first

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop the worker: close its stdin (it exits), then SIGTERM, then SIGKILL its process group."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin:
                process.stdin.close()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait()

    def kill(self) -> None:
        """Kill the worker at once (a timed-out invocation: Lambda stops the environment)."""
        process, self._process = self._process, None
        if process is None:
            return
        self._signal(process, signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        """Stop the worker and close the log file."""
        self.stop()
        if self._log_file:
            with self._log_lock:
                self._log_file.close()
                self._log_file = None

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)  # its own session: the group id is its pid

    # -- invocation ---------------------------------------------------------------------------------

    def invoke(
        self, event: Any = None, request_id: str | None = None, *, source: Mapping[str, Any] | None = None
    ) -> InvokeResult:
        """Run one invocation with the function timeout, as a synchronous Lambda Invoke would.

        `source` replaces the inline event: ``{"payload_file": PATH}`` or ``{"event_from": {...}}``
        (local.aws.worker)."""
        request_id = request_id or str(uuid.uuid4())
        context = {
            "deadline_ms": int(time.time() * 1000 + self.spec.timeout_s * 1000),
            "invoked_function_arn": self.spec.function_arn,
            "function_name": self.spec.function_name,
            "memory_limit_in_mb": str(self.spec.memory_mb),
            "log_group_name": f"/aws/lambda/{self.spec.function_name}",
            "log_stream_name": "local",
        }
        request = {"request_id": request_id, "context": context, **(source or {"event": event})}
        return self._exchange(request, self.spec.timeout_s)

    def call(self, target: str, args: Mapping[str, Any], timeout_s: float) -> InvokeResult:
        """Run ``target(handler, args)`` inside this environment (local.aws.worker); the result's
        payload is its answer. No Lambda deadline applies, only `timeout_s`."""
        request = {"op": "call", "request_id": str(uuid.uuid4()), "target": target, "args": dict(args)}
        return self._exchange(request, timeout_s)

    def _exchange(self, request: Mapping[str, Any], timeout_s: float) -> InvokeResult:
        """Send one request and wait for its answer; a worker that does not answer in `timeout_s` is
        killed (a timeout), one that exits is reaped (a crash)."""
        if not self.alive:
            self.start()
        process = self._process
        assert process is not None
        assert process.stdin is not None
        request_id = str(request["request_id"])
        cold, self._cold = self._cold, False
        marker = self._markers.setdefault(request_id, _EndMarker())
        with self._log_lock:
            first_line = len(self._lines)
        self._write_log(f"START RequestId: {request_id} Version: $LATEST")
        started = time.monotonic()
        result = InvokeResult(request_id=request_id, status="ok", cold_start=cold, pid=process.pid)
        if cold:
            result.init_ms = self._init_ms
        try:
            process.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            process.stdin.flush()
            answer = self._answers.get(timeout=max(0.0, timeout_s - (time.monotonic() - started)))
        except (BrokenPipeError, OSError):
            answer = None
        except queue.Empty:
            result.duration_ms = (time.monotonic() - started) * 1000
            self.kill()
            result.status = "timeout"
            result.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {timeout_s:.2f} seconds",
            }
            self._write_log(
                f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {request_id} {result.error['errorMessage']}"
            )
            return self._finish(result, first_line, marker)
        result.duration_ms = (time.monotonic() - started) * 1000
        if answer is None:  # EOF: the worker died mid-invocation
            self._reap()
            result.status = "crash"
            result.error = {"errorType": "Runtime.ExitError", "errorMessage": "the worker process exited"}
            return self._finish(result, first_line, marker)
        marker.seen.wait(_MARKER_WAIT_S)
        result.max_memory_mb = answer.get("max_memory_mb")
        result.measures = dict(answer.get("measures") or {})
        if answer.get("ok"):
            result.payload = answer.get("payload")
        else:
            result.status = "error"
            result.error = answer.get("error")
            if (result.error or {}).get("errorType") == "Runtime.ExitError":
                self._reap()
        return self._finish(result, first_line, marker)

    def _finish(self, result: InvokeResult, first_line: int, marker: _EndMarker) -> InvokeResult:
        with self._log_lock:
            result.log_lines = [line for line in self._lines[first_line:] if line]
            self._lines.clear()  # invocations are sequential: what follows belongs to the next one
            self._markers.pop(result.request_id, None)
        self._write_log(f"END RequestId: {result.request_id}")
        report = (
            f"REPORT RequestId: {result.request_id} Duration: {result.duration_ms:.2f} ms "
            f"Memory Size: {self.spec.memory_mb} MB"
        )
        if result.max_memory_mb is not None:
            report += f" Max Memory Used: {result.max_memory_mb:.0f} MB"
        if result.init_ms is not None:
            report += f" Init Duration: {result.init_ms:.2f} ms"
        if result.status != "ok":
            report += f" Status: {result.status}"
        self._write_log(report)
        return result

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            self._signal(process, signal.SIGKILL)
            process.wait()
        self._wait_for_streams()

    # -- I/O threads --------------------------------------------------------------------------------

    def _read_answers(self, stream: IO[bytes], answers: queue.Queue[dict[str, Any] | None]) -> None:
        # The queue is this worker's own: a killed worker's end-of-stream must not reach its successor's
        # queue (it did, as a spurious "worker exited during Init" after a timeout).
        with stream:
            for raw in stream:
                with contextlib.suppress(ValueError):
                    answers.put(json.loads(raw))
        answers.put(None)

    def _read_logs(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith(END_MARKER):
                    marker = self._markers.get(line[len(END_MARKER) :].strip())
                    if marker is not None:
                        marker.stream_done()
                    continue
                with self._log_lock:
                    self._lines.append(line)
                if line:
                    self._write_log(line)
        with self._log_lock:
            self._streams_open -= 1

    def _wait_for_streams(self, timeout_s: float = _MARKER_WAIT_S) -> None:
        end = time.monotonic() + timeout_s
        while self._streams_open > 0 and time.monotonic() < end:
            time.sleep(0.01)

    def _write_log(self, line: str) -> None:
        if self._log_file is None:
            return
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.write(line + "\n")
                self._log_file.flush()

    def __enter__(self) -> ExecutionEnvironment:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
