"""`make run` end to end (moto, the emulator, the real handler) and its command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.run_args import parse_args

REPO = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {"sent", "applied", "superseded", "dead_lettered", "lost", "hubspot_calls", "wall_s"}


def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_run(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.run", "--quiet", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_small_run_drains_checks_and_ends_with_the_json_summary() -> None:
    # GIVEN a small workload with short batching windows
    run = start_run("--messages", "120", "--no-events", "--parameter", "MaximumBatchingWindowInSeconds=1")
    # WHEN it runs to the end
    out, err = run.communicate(timeout=240)
    # THEN it passed, and the last stdout line is the summary as JSON
    assert run.returncode == 0, out[-3000:] + err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) >= REQUIRED_KEYS
    assert summary["sent"] == 120
    assert summary["lost"] == 0
    assert summary["in_flight"] == 0
    assert summary["applied"] + summary["superseded"] + summary["dead_lettered"] >= 120
    assert summary["dead_lettered"] == summary["expected_dead_lettered"]
    assert summary["hubspot_calls"] >= 1
    assert "RESULT: OK" in out


@pytest.mark.slow
def test_ctrl_c_stops_every_process_the_run_started() -> None:
    # GIVEN a run that has started its servers and workers
    run = start_run("--messages", "3000", "--no-events")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(children_of(run.pid)) < 3:
        time.sleep(0.2)
    started = children_of(run.pid)
    assert len(started) >= 3  # moto and two worker processes
    # WHEN it gets Ctrl-C
    run.send_signal(signal.SIGINT)
    out, _ = run.communicate(timeout=60)
    # THEN it reports the interruption and nothing it started is left running
    assert run.returncode == 130
    assert json.loads(out.strip().splitlines()[-1])["interrupted"] is True
    assert [pid for pid in started if alive(pid)] == []


def start_real(token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOCAL_RUN_TEST_TOKEN"}
    if token is not None:
        env["LOCAL_RUN_TEST_TOKEN"] = token
    args = ["--real-hubspot", "--subscription-ids", "1", "--token-env", "LOCAL_RUN_TEST_TOKEN"]
    # a loopback URL nobody listens on: even a bug here could not reach a real portal
    args += ["--hubspot-url", "http://127.0.0.1:9", "--quiet"]
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.run", *args],
        cwd=REPO,
        env=env,
        input="no\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_real_hubspot_says_what_it_will_do_and_stops_without_a_yes() -> None:
    # GIVEN the opt-in flag and a token, answered "no"
    done = start_real("pat-not-a-real-token")
    # THEN it warned that real statuses would be written, and stopped before sending anything
    assert done.returncode != 0
    assert "WRITES REAL" in done.stderr
    assert "not confirmed; nothing was sent" in done.stderr


def test_real_hubspot_needs_the_token_variable() -> None:
    done = start_real(None)
    assert done.returncode != 0
    assert "LOCAL_RUN_TEST_TOKEN" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--real-hubspot"],
        ["--parameter", "BatchSize"],
        ["--messages", "-1"],
        ["--shards", "11"],
        ["--subscription-ids", "a,b"],
        ["--poll-wait", "21"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(argv)
    assert stopped.value.code == 2


def test_parameters_and_environment_overrides_are_parsed() -> None:
    args = parse_args(
        ["--parameter", "BatchSize=10", "--env", "RETRY_BACKOFF_BASE_SECONDS=1", "--faults", "flaky"]
    )
    assert args.parameters == {"BatchSize": "10"}
    assert args.env_overrides == {"RETRY_BACKOFF_BASE_SECONDS": "1"}
    assert args.faults == "flaky"
