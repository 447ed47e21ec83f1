"""`make run`'s command line: every bad value is refused with one line and exit status 2, before
anything (moto, the emulator, a worker) is started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.hubspot_emulator.faults import PROFILES
from local.run_args import parse_args

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--faults", "bogus"], "--faults"),
        (["--parameter", "NoSuchParam=1"], "NoSuchParam"),
        (["--parameter", "BatchSize=abc"], "BatchSize"),
        (["--parameter", "BatchSize=20", "--parameter", "MaximumBatchingWindowInSeconds=0"], "BatchSize"),
        (["--messages", "many"], "--messages"),
        (["--drain-timeout", "0"], "--drain-timeout"),
        (["--events", "no-such-dir/*.json"], "--events"),
        (["--template", "no-such-template.yaml"], "--template"),
        (["--actor-ratio", "1.5"], "--actor-ratio"),
        (["--actor-ratio", "some"], "--actor-ratio"),
    ],
)
def test_a_bad_value_exits_2_with_one_line_and_starts_nothing(argv: list[str], names: str) -> None:
    # GIVEN a bad value, and an AWS endpoint that would show any attempt to reach AWS
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    # WHEN make run is started with it
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.run", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN it exits 2 with one line naming the bad flag, no traceback, and printed nothing of a run
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert names in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # no "template:" description, no summary: nothing was started


def test_the_faults_help_lists_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN --help is printed
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--help"])
    # THEN every profile the emulator defines is named in it
    assert stopped.value.code == 0
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also at hyphens
    for name in PROFILES:
        assert name in text


def test_every_profile_is_accepted() -> None:
    for name in PROFILES:
        assert parse_args(["--faults", name]).faults == name


def test_hubspot_side_changes_are_on_by_default_and_the_flag_sets_or_stops_them() -> None:
    """GIVEN make run's command line
    WHEN it is parsed without --actor-ratio, with 0.1 and with 0
    THEN the share is 0.02 by default, else the one given (0: no HubSpot-side change)"""
    assert parse_args([]).actor_ratio == 0.02
    assert parse_args(["--actor-ratio", "0.1"]).actor_ratio == 0.1
    assert parse_args(["--actor-ratio", "0"]).actor_ratio == 0.0
