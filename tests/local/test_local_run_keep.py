"""`make run ARGS="--keep"`: after the run, moto (and the emulator) stay up, reachable with the printed
environment, with the run's dead letters in the DLQ; Ctrl-C then stops every process."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_local_run import alive, children_of

from local.aws.event_source import default_sqs_client
from local.aws.queues import read_dead_letters

REPO = Path(__file__).resolve().parents[2]


def read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    """stdout lines up to and including the one containing `marker` (read from the pipe directly, so
    nothing waits in a reader's buffer)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if marker.encode() in data:
                return data.decode().splitlines()
    raise AssertionError(f"no {marker!r} within {timeout_s} s; got {data.decode()[-2000:]}")


@pytest.mark.slow
def test_keep_leaves_a_reachable_moto_with_the_dead_letters_and_ctrl_c_stops_everything() -> None:
    # GIVEN a small run (the sample events carry invalid messages) with --keep
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    run = subprocess.Popen(
        [sys.executable, "-m", "local.run", "--messages", "20", "--quiet", "--keep"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # WHEN it has finished its checks and printed how to reach what it kept
        lines = read_until(run, "Ctrl-C stops everything", timeout_s=180)
        summary = json.loads(next(line for line in lines if line.startswith("{")))
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1) for line in lines if "export " in line
        )
        dlq_url = next(line.split("DLQ:", 1)[1].strip() for line in lines if "DLQ:" in line)
        emulator_url = next(line.split()[2] for line in lines if "HubSpot emulator:" in line)
        kept = children_of(run.pid)
        # THEN moto answers at the printed endpoint, and its DLQ holds exactly the run's dead letters
        assert summary["ok"] is True
        assert summary["dead_lettered"] > 0
        assert exports["AWS_DEFAULT_REGION"] == "us-east-1"
        sqs = default_sqs_client(exports["AWS_DEFAULT_REGION"], exports["AWS_ENDPOINT_URL"])
        letters = read_dead_letters(sqs, dlq_url, hide_s=30)
        assert letters.by_reason() == summary["dead_lettered_by_reason"]
        assert httpx.get(f"{emulator_url}/", timeout=5).status_code < 500
        assert run.poll() is None
    finally:
        # WHEN it gets Ctrl-C
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    # THEN it stops with the run's own status and leaves nothing running
    assert run.returncode == 0
    assert [pid for pid in kept if alive(pid)] == []
    with pytest.raises(httpx.TransportError):
        httpx.get(exports["AWS_ENDPOINT_URL"], timeout=2)
