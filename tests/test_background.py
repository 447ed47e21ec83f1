"""tests/background.py: a run started early hands its whole output to the test, and one that outlives
its timeout is stopped with everything it started."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.background import BackgroundRun


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
