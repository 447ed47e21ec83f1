"""End-to-end runs that mostly wait (fault windows, visibility timeouts) start when collection ends and
are checked last, so their waiting overlaps the rest of the suite instead of adding to it.

A test opts in with ``@pytest.mark.background(argv, timeout=...)`` and takes the ``background_run``
fixture: the finished run's exit code and output. The run itself is the same command, with the same
environment, as when the test started it itself; only its start moves earlier. Under pytest-xdist
(`make test`) every worker collects every test, so none starts them early (each would start every
run, and two small chaos runs at once on two busy cores ran past their timeout): the tests that take
a background run go first instead, and the run starts when its test does (tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    def for_mark(cls, mark: pytest.Mark) -> BackgroundRun:
        """Start what ``@pytest.mark.background(argv, timeout=...)`` names."""
        return cls.start(mark.args[0], mark.kwargs.get("timeout", 300))

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


def marked(item: pytest.Item) -> pytest.Mark | None:
    return item.get_closest_marker("background")
