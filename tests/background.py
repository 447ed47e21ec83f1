"""End-to-end runs that mostly wait (fault windows, visibility timeouts) start when the suite starts and
are checked last, so their waiting overlaps the rest of the suite instead of adding to it.

A test opts in by its node id in ``RUNS`` (the command and its timeout) and takes the
``background_run`` fixture: the finished run's exit code and output. The run is the same command, with
the same environment, as when the test started it itself; only its start moves earlier.

- One process: the run starts when collection ends; its test goes last.
- pytest-xdist (`make test`): every worker collects every test, so none starts it (each would start
  every run: two small chaos runs at once on two busy cores ran past their timeout). The controller
  starts it once the first worker has collected, and writes its result into a directory every worker
  is told of (``Handoff``); the files holding such tests are scheduled last, so both workers go through
  the rest of the suite while it runs (one worker waiting for it from the start made the suite run on
  the other alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[1]
HANDOFF_KEY = "background_dir"  # in pytest-xdist's workerinput: where the controller's runs report


@dataclass(frozen=True)
class Run:
    """What a test's background run executes, and how long it may take (a guard against a hang, not
    a performance assertion: the small chaos run took 136 s alone here, 185 s while one worker waited
    for it and the other went through the suite, and past 240 s in CI)."""

    argv: tuple[str, ...]
    timeout_s: float


# The tests whose run starts early, by node id. The run's own limit (--drain-timeout) is below the
# guard's, so a run that is slow but alive ends with its own report rather than being killed.
RUNS: dict[str, Run] = {
    "tests/local/test_chaos.py::test_the_small_chaos_profile_keeps_every_invariant": Run(
        (sys.executable, "-m", "local.chaos", "--profile", "small", "--quiet", "--drain-timeout", "360"),
        timeout_s=480,
    ),
}


@dataclass
class BackgroundRun:
    """One subprocess started early; its output goes to files (a full pipe would stall it)."""

    process: subprocess.Popen[bytes]
    stdout: IO[bytes]
    stderr: IO[bytes]
    deadline: float

    @classmethod
    def start(cls, argv: Sequence[str], timeout_s: float) -> BackgroundRun:
        # Closed by finish() or stop(): the files outlive this call.
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603 - argv comes from the test's own marker
            list(argv),
            cwd=REPO_ROOT,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        return cls(process, stdout, stderr, time.monotonic() + timeout_s)

    @classmethod
    def for_run(cls, run: Run) -> BackgroundRun:
        return cls.start(run.argv, run.timeout_s)

    def finish(self) -> subprocess.CompletedProcess[str]:
        """Wait for the run (within the timeout counted from its start) and hand back its output."""
        try:
            self.process.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, _read(self.stdout), _read(self.stderr)
        )

    def stop(self) -> None:
        """Stop the run and everything it started (its own session)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for handle in (self.stdout, self.stderr):
            handle.close()


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    text = handle.read().decode("utf-8", "replace")
    handle.close()
    return text


class Handoff:
    """Runs started by pytest-xdist's controller, each read by the worker whose test takes it: the
    result goes to one JSON file per test in ``directory``, written whole (renamed into place)."""

    def __init__(self, directory: Path, runs: Mapping[str, Run] = RUNS) -> None:
        self.directory = directory
        self.runs = runs
        self._runs: dict[str, tuple[BackgroundRun, threading.Thread]] = {}

    def _path(self, nodeid: str, suffix: str) -> Path:
        return self.directory / (hashlib.sha256(nodeid.encode()).hexdigest()[:16] + suffix)

    def start(self, nodeids: Sequence[str]) -> None:
        """Controller side: start the run of every collected test in ``RUNS`` not started yet."""
        for nodeid in nodeids:
            if nodeid in self.runs and nodeid not in self._runs:
                run = BackgroundRun.for_run(self.runs[nodeid])
                waiter = threading.Thread(target=self._report, args=(nodeid, run), daemon=True)
                self._runs[nodeid] = (run, waiter)
                self._path(nodeid, ".started").touch()
                waiter.start()

    def _report(self, nodeid: str, run: BackgroundRun) -> None:
        try:
            completed = run.finish()
            result: dict[str, object] = {
                "returncode": completed.returncode,
                "stdout": completed.stdout,
                "stderr": completed.stderr,
            }
        except subprocess.TimeoutExpired:
            result = {"timeout_s": self.runs[nodeid].timeout_s}
        except (OSError, ValueError):  # stopped (its files closed) when the session ended first
            return
        partial = self._path(nodeid, ".partial")
        partial.write_text(json.dumps(result), encoding="utf-8")
        partial.replace(self._path(nodeid, ".json"))

    def started(self, nodeid: str) -> bool:
        return self._path(nodeid, ".started").exists()

    def wait(self, nodeid: str) -> subprocess.CompletedProcess[str]:
        """Worker side: the run's result once the controller has written it (its own timeout, and a
        margin for stopping it, bound the wait)."""
        spec = self.runs[nodeid]
        argv = list(spec.argv)
        path, deadline = self._path(nodeid, ".json"), time.monotonic() + spec.timeout_s + 60
        while not path.exists():
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(argv, spec.timeout_s)
            time.sleep(0.5)
        result = json.loads(path.read_text(encoding="utf-8"))
        if "timeout_s" in result:
            raise subprocess.TimeoutExpired(argv, result["timeout_s"])
        return subprocess.CompletedProcess(argv, result["returncode"], result["stdout"], result["stderr"])

    def stop(self) -> None:
        """Controller side, when the session ends: stop what still runs."""
        for run, waiter in self._runs.values():
            run.stop()
            waiter.join(timeout=30)
