"""One Lambda execution environment for the bench: a worker process that imports a handler once (Init)
and then runs invocations one at a time, as Lambda does. Concurrent invocations run in separate
processes, so they share nothing but the emulator and the secret, as real execution environments do.

Parent side: ``Environment(handler, env, log_path)``; ``invoke(spec)`` returns the worker's measurements.
Worker side: ``python -m bench.environment --handler app.handler --code-uri functions/status_writer``.
The worker answers on its original stdout; the handler's own output (logs, EMF metrics) goes to the log
file, as it would go to CloudWatch.

Commands (JSON lines on stdin): ``{"op": "invoke", "spec": {...}}`` builds the event from an
``EventSpec`` outside the timed region; ``{"op": "invoke", "payload_file": PATH}`` reads the raw payload
and decodes it as the runtime would (counted in memory, not in the handler's time);
``{"op": "cpu", ...}`` runs the CPU probe (bench.cpu); ``{"op": "exit"}``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import select
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_CODE_URI = REPO_ROOT / "functions" / "status_writer"


# --------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------


class LambdaContext:
    """The attributes Powertools and the function read from Lambda's context object."""

    def __init__(self, timeout_s: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench-status-writer")
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def max_rss_mb() -> float:
    """Peak RSS of this process: VmHWM, the high-water mark of its own address space. Not ru_maxrss:
    on Linux a child started by fork+exec inherits its parent's ru_maxrss, so a worker of the bench
    (whose process holds moto and the emulator) would report the bench's size, not its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Worker:
    def __init__(self, answers: IO[str], handler: Callable[[Any, Any], Any]) -> None:
        self.answers = answers
        self.handler = handler
        self.timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "60"))

    def send(self, document: Mapping[str, Any]) -> None:
        self.answers.write(json.dumps(document, separators=(",", ":")) + "\n")
        self.answers.flush()

    def serve(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            op = command.get("op")
            if op == "exit":
                return
            try:
                if op == "invoke":
                    answer = self.invoke(command)
                elif op == "cpu":
                    from bench.cpu import probe

                    answer = probe(self.handler, command)
                else:
                    answer = {"ok": False, "error": f"unknown op {op!r}"}
            except Exception as error:
                traceback.print_exc()
                answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            self.send(answer)

    def invoke(self, command: Mapping[str, Any]) -> dict[str, Any]:
        from bench.workload import EventSpec, event

        rss_before = current_rss_mb()
        if "payload_file" in command:
            raw = Path(command["payload_file"]).read_bytes()
            payload_bytes = len(raw)
            the_event = json.loads(raw)  # what the runtime does with the payload it receives
        else:
            raw = b""
            the_event = event(EventSpec.from_dict(command["spec"]))
            payload_bytes = 0
        records = len(the_event.get("Records", []))
        context = LambdaContext(self.timeout_s)
        started_at = time.time()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            response = self.handler(the_event, context)
        except Exception as error:
            traceback.print_exc()
            return {"ok": False, "error": f"{type(error).__name__}: {error}", "records": records}
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        ended_at = time.time()
        failures = response.get("batchItemFailures", []) if isinstance(response, dict) else []
        answer = {
            "ok": True,
            "records": records,
            "failures": len(failures),
            "duration_ms": round(wall * 1000, 3),
            "cpu_ms": round(cpu * 1000, 3),
            "started_at": started_at,
            "ended_at": ended_at,
            "payload_bytes": payload_bytes,
            "rss_before_mb": round(rss_before, 1),
            "max_rss_mb": round(max_rss_mb(), 1),
        }
        del the_event, raw, response
        gc.collect()
        return answer


def worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a bench execution environment (worker side)")
    parser.add_argument("--handler", required=True, help="module.function")
    parser.add_argument("--code-uri", type=Path, help="put this directory first on sys.path (the CodeUri)")
    args = parser.parse_args(argv)
    # Answers go to the original stdout; the handler's stdout/stderr become the log file the parent gave
    # us as stderr (Powertools writes its JSON logs and EMF metrics to stdout).
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    if args.code_uri:
        sys.path.insert(0, str(args.code_uri.resolve()))
    module_name, _, function_name = args.handler.rpartition(".")
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
    except BaseException as error:
        traceback.print_exc()
        answers.write(json.dumps({"ok": False, "error": f"init: {type(error).__name__}: {error}"}) + "\n")
        answers.flush()
        return 1
    init_ms = (time.perf_counter() - started) * 1000
    worker = _Worker(answers, handler)
    worker.send({"ok": True, "ready": True, "init_ms": round(init_ms, 3), "rss_mb": round(max_rss_mb(), 1)})
    worker.serve()
    return 0


# --------------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    """The worker failed to start, died, or did not answer in time."""


class Environment:
    """A worker process running ``handler`` with exactly ``env`` as its environment."""

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
        self._log = log_path.open("wb")
        command = [sys.executable, "-m", "bench.environment", "--handler", handler]
        if code_uri is not None:
            command += ["--code-uri", str(code_uri)]
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self._buffer = b""
        self.ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self) -> dict[str, Any]:
        """Block until Init finished; returns {"init_ms", "rss_mb"}."""
        if self.ready is None:
            answer = self._answer()
            if not answer.get("ready"):
                raise WorkerError(f"{self.handler} failed to start: {answer.get('error')} ({self.log_path})")
            self.ready = answer
        return self.ready

    def request(self, command: Mapping[str, Any]) -> dict[str, Any]:
        self.wait_ready()
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        self._process.stdin.flush()
        return self._answer()

    def invoke(
        self, spec: Mapping[str, Any] | None = None, payload_file: Path | None = None
    ) -> dict[str, Any]:
        command: dict[str, Any] = {"op": "invoke"}
        if payload_file is not None:
            command["payload_file"] = str(payload_file)
        else:
            command["spec"] = dict(spec or {})
        return self.request(command)

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(b'{"op": "exit"}\n')
                process.stdin.close()
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._log.close()

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(
                    f"{self.handler} did not answer in {self.timeout_s:.0f} s ({self.log_path})"
                )
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerError(f"{self.handler} exited (see {self.log_path})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer


if __name__ == "__main__":
    sys.exit(worker_main())
