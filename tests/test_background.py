"""tests/background.py: a run started early hands its whole output to the test, also from pytest-xdist's
controller to a worker, and one that outlives its timeout is stopped with everything it started."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.background import BackgroundRun, Handoff, Run


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_a_finished_run_hands_back_its_exit_code_and_whole_output() -> None:
    # GIVEN a run that writes more than a pipe holds (it would stall on a pipe nobody reads)
    script = "import sys; sys.stdout.write('x' * 200_000 + '\\nlast'); sys.stderr.write('err'); sys.exit(3)"
    run = BackgroundRun.start([sys.executable, "-c", script], timeout_s=30)
    # WHEN the test asks for it THEN it gets all of it
    completed = run.finish()
    assert completed.returncode == 3
    assert completed.stdout.endswith("\nlast")
    assert len(completed.stdout) == 200_005
    assert completed.stderr == "err"


def test_a_run_past_its_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    # GIVEN a run that starts a child, notes the child's pid, and then waits forever
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    run = BackgroundRun.start([sys.executable, "-c", script], timeout_s=2)
    # WHEN its timeout passes THEN finish raises, and the run and its child are gone
    with pytest.raises(subprocess.TimeoutExpired):
        run.finish()
    child = int(pid_file.read_text())
    for _ in range(50):
        if not running(child):
            break
        time.sleep(0.1)
    assert run.process.poll() is not None
    assert not running(child)


def test_a_run_the_controller_started_reaches_the_worker_whole(tmp_path: Path) -> None:
    # GIVEN the controller's handoff, with one registered test among the collected ones
    script = "import sys; sys.stdout.write('y' * 100_000 + '\\nend'); sys.stderr.write('warn'); sys.exit(4)"
    runs = {"tests/x.py::test_waits": Run((sys.executable, "-c", script), timeout_s=30)}
    controller = Handoff(tmp_path, runs)
    try:
        # WHEN a worker's collection reaches the controller twice (two workers collect the same tests)
        controller.start(["tests/x.py::test_other", "tests/x.py::test_waits"])
        controller.start(["tests/x.py::test_waits"])
        # THEN the run started once, a worker sees it started, and waits for its whole result
        worker = Handoff(tmp_path, runs)
        assert worker.started("tests/x.py::test_waits")
        assert not worker.started("tests/x.py::test_other")
        assert len(list(tmp_path.glob("*.started"))) == 1
        completed = worker.wait("tests/x.py::test_waits")
    finally:
        controller.stop()
    assert completed.returncode == 4
    assert completed.stdout.endswith("\nend")
    assert len(completed.stdout) == 100_004
    assert completed.stderr == "warn"


def test_a_run_the_controller_stopped_at_its_timeout_is_a_timeout_for_the_worker(tmp_path: Path) -> None:
    # GIVEN a registered run that outlives its timeout
    runs = {"tests/x.py::test_hangs": Run((sys.executable, "-c", "import time; time.sleep(60)"), timeout_s=1)}
    controller = Handoff(tmp_path, runs)
    try:
        controller.start(list(runs))
        # WHEN the worker waits for it THEN it hears of the timeout, not of an exit code
        with pytest.raises(subprocess.TimeoutExpired):
            Handoff(tmp_path, runs).wait("tests/x.py::test_hangs")
    finally:
        controller.stop()
