"""`make run` end to end when HubSpot's daily limit is used up: the messages are parked, not lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_daily_parked_messages_are_reported_parked_not_lost() -> None:
    # GIVEN an emulator whose daily limit is used up
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    # WHEN a small run drains
    done = subprocess.run(
        [sys.executable, "-m", "local.run", "--messages", "30", "--no-events", "--faults", "daily-exhausted"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # THEN it ends without waiting out the park: every message parked, none lost, none applied
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 30
    assert summary["parked"] == 30
    assert summary["lost"] == 0
    assert summary["in_flight"] == 0
    assert summary["applied"] == 0
    assert summary["hubspot_429s"] >= 1
    # AND the progress line said what it was waiting for
    assert "parked 30 until" in done.stderr
    assert "parked (DAILY limit), not lost" in done.stdout
