"""A local stand-in for one Lambda execution environment: a long-lived worker process per concurrency slot.

Why a process per slot: in Lambda each concurrent invocation runs in its own execution environment, and
module state (clients, caches, the secret) lives there and is reused while the environment is warm. So
each slot gets one worker process that imports the handler once (the Init phase) and then serves
invocations one at a time until it times out, crashes or is stopped; the next invocation after a
timeout or crash starts a fresh worker (a cold start), as Lambda resets the environment.

Parent side: `ExecutionEnvironment` (spawn, invoke with the function timeout, capture logs, stop).
Worker side: `python -m local.aws.runtime --handler app.handler --code-uri DIR --response-fd N`.

Wire protocol (all JSON lines): the parent writes invocation requests to the worker's stdin; the worker
answers on a private pipe (``--response-fd``) so the handler's own stdout, which is its log stream as in
CloudWatch, never mixes with answers. After each invocation the worker prints an end marker on stdout
and stderr so the parent can attribute every log line to its invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

END_MARKER = "__local_lambda_runtime_end__"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INIT_TIMEOUT_S = 60.0  # Lambda allows 10 s; a 2-core machine starting several workers needs slack
_MARKER_WAIT_S = 2.0  # how long to wait for the log streams to catch up with an answer


# --------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------


class LambdaContext:
    """The context object the Python runtime passes to a handler, with the same attribute names.

    The remaining time counts down to an absolute deadline (epoch milliseconds) as in Lambda, where the
    runtime API hands the deadline to the runtime. `memory_limit_in_mb` is a string, as the real
    runtime reads it from the environment.
    """

    def __init__(
        self,
        *,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        function_name: str = "",
        function_version: str = "$LATEST",
        memory_limit_in_mb: str = "128",
        log_group_name: str = "",
        log_stream_name: str = "",
    ) -> None:
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until Lambda would stop this invocation (never negative)."""
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message: str) -> None:
        """Write to the function's log stream, like the runtime's context.log."""
        sys.stdout.write(message)
        sys.stdout.flush()

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r})"


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The error document Lambda returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def load_handler(code_uri: Path, handler: str) -> Callable[[Any, Any], Any]:
    """Import ``module.function`` from the CodeUri the way the runtime does (CodeUri first on sys.path)."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"handler {handler!r} is not of the form module.function")
    sys.path.insert(0, str(code_uri))
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if not callable(function):
        raise TypeError(f"{handler} is not callable")
    return function  # type: ignore[no-any-return]


def _isolate_sys_path() -> None:
    """Drop the repository root that `python -m` put on sys.path: the handler sees only its CodeUri and
    the installed packages, as in Lambda (where the layer is on the path instead)."""
    root = str(REPO_ROOT)
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".", root, os.getcwd())]


def _max_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux


class _Worker:
    """The worker's loop: read a request, run the handler, answer, mark the end of its logs."""

    def __init__(self, answer: IO[bytes], handler: Callable[[Any, Any], Any]) -> None:
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
            exit_code = self._invoke(request)
            if exit_code is not None:
                return exit_code
        return 0  # stdin closed: the parent is gone or wants us to stop

    def _invoke(self, request: Mapping[str, Any]) -> int | None:
        request_id = str(request["request_id"])
        context = LambdaContext(aws_request_id=request_id, **request["context"])
        answer: dict[str, Any] = {"type": "result", "request_id": request_id, "ok": False}
        exit_code: int | None = None
        try:
            result = self.handler(request["event"], context)
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
        answer["max_memory_mb"] = round(_max_memory_mb(), 1)
        _mark_end(request_id)
        self.send(answer)
        return exit_code


def _print_error(exc: BaseException) -> None:
    sys.stderr.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))}")


def _mark_end(request_id: str) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.write(f"\n{END_MARKER} {request_id}\n")
            stream.flush()


def worker_main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process: Init (import the handler once), then serve invocations."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--code-uri", required=True, type=Path)
    parser.add_argument("--response-fd", required=True, type=int)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    answer = os.fdopen(args.response_fd, "wb")
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
        {"type": "ready", "pid": os.getpid(), "init_ms": round((time.monotonic() - started) * 1000, 1)}
    )
    return worker.serve()


# --------------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------------


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
    ) -> None:
        self.spec = spec
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
        if self.alive:
            return
        read_fd, write_fd = os.pipe()
        self._answers = queue.Queue()
        self._lines = []
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "local.aws.runtime",
                    "--handler",
                    self.spec.handler,
                    "--code-uri",
                    str(self.spec.code_uri.resolve()),
                    "--response-fd",
                    str(write_fd),
                ],
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
        self._init_ms = float(first.get("init_ms", 0.0))
        self._cold = True
        self.cold_starts += 1

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

    def invoke(self, event: Any, request_id: str | None = None) -> InvokeResult:
        """Run one invocation with the function timeout, as a synchronous Lambda Invoke would."""
        if not self.alive:
            self.start()
        process = self._process
        assert process is not None
        assert process.stdin is not None
        request_id = request_id or str(uuid.uuid4())
        cold, self._cold = self._cold, False
        marker = self._markers.setdefault(request_id, _EndMarker())
        started_wall = time.time()
        deadline_ms = int(started_wall * 1000 + self.spec.timeout_s * 1000)
        context = {
            "deadline_ms": deadline_ms,
            "invoked_function_arn": self.spec.function_arn,
            "function_name": self.spec.function_name,
            "memory_limit_in_mb": str(self.spec.memory_mb),
            "log_group_name": f"/aws/lambda/{self.spec.function_name}",
            "log_stream_name": "local",
        }
        with self._log_lock:
            first_line = len(self._lines)
        self._write_log(f"START RequestId: {request_id} Version: $LATEST")
        started = time.monotonic()
        result = InvokeResult(request_id=request_id, status="ok", cold_start=cold, pid=process.pid)
        if cold:
            result.init_ms = self._init_ms
        request = {"request_id": request_id, "event": event, "context": context}
        try:
            process.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            process.stdin.flush()
            answer = self._answers.get(timeout=max(0.0, self.spec.timeout_s - (time.monotonic() - started)))
        except (BrokenPipeError, OSError):
            answer = None
        except queue.Empty:
            result.duration_ms = (time.monotonic() - started) * 1000
            self.kill()
            result.status = "timeout"
            result.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {self.spec.timeout_s:.2f} seconds",
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


if __name__ == "__main__":
    sys.exit(worker_main())
