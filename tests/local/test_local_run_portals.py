"""`make run --portals N` (local/run_args.py, local/workload/plan.py): the flag checks, and the plan a
multi-portal run makes; `--portals 1` is today's run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.run_args import parse_args
from local.workload.plan import FIRST_PORTAL_ID, make_plan
from local.workload.workload import INVALID

REPO = Path(__file__).resolve().parents[2]
PORTAL = {1001: 0, 1002: 0, 1003: 0, 2001: 1}


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--portals", "0"], "--portals"),
        (["--portals", "three"], "--portals"),
        (["--portals", "2", "--real-hubspot", "--subscription-ids", "1", "--yes"], "--portals"),
        (["--portals", "3", "--missing-portal-ratio", "1.5"], "--missing-portal-ratio"),
        (["--missing-portal-ratio", "0.1"], "--missing-portal-ratio"),
    ],
)
def test_a_bad_portals_flag_exits_2_with_one_line_and_starts_nothing(argv: list[str], names: str) -> None:
    """GIVEN a bad --portals value, more than one portal against a real portal, or a missing-portal
    ratio out of range or without several portals
    WHEN make run is started with it
    THEN it exits 2 with one line naming the flag, and nothing of a run is printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["HUBSPOT_TOKEN"] = "pat-never-used"
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.run", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert names in lines[0]
    assert done.stdout == ""


def test_one_portal_is_todays_plan() -> None:
    """GIVEN no --portals, and --portals 1
    WHEN the run is planned
    THEN both plans have no portals and the very same messages, none carrying a portalId."""
    default = make_plan(parse_args(["--messages", "200", "--no-events"]), PORTAL)
    one = make_plan(parse_args(["--messages", "200", "--no-events", "--portals", "1"]), PORTAL)
    assert default.portals == one.portals == []
    assert [i.body for i in default.workload.items] == [i.body for i in one.workload.items]
    assert not any('"portalId"' in i.body for i in one.workload.items)


def test_three_portals_spread_the_workload_and_note_the_event_files() -> None:
    """GIVEN --portals 3 with the event files
    WHEN the run is planned
    THEN three portal ids from FIRST_PORTAL_ID, generated messages in all three (only the truncated,
    invalid bodies in none), the event files' bodies (no portalId) expected as INVALID_MESSAGE, and
    notes saying both."""
    plan = make_plan(parse_args(["--messages", "300", "--portals", "3"]), PORTAL)
    assert plan.portals == [FIRST_PORTAL_ID, FIRST_PORTAL_ID + 1, FIRST_PORTAL_ID + 2]
    generated = [i for i in plan.workload.items if i.source == "generated"]
    assert {i.expectation.portal for i in generated} - {None} == set(plan.portals)
    assert all(i.expectation.reason == INVALID for i in generated if i.expectation.portal is None)
    from_files = [i for i in plan.workload.items if i.source != "generated"]
    assert from_files
    assert all(i.expectation.reason == INVALID for i in from_files)
    assert any("3 portals" in note for note in plan.notes)
    assert any("events/*.json" in note for note in plan.notes)


def test_the_summary_lists_each_portal_and_says_whether_it_ended_right() -> None:
    """GIVEN a summary with one portal that ended right and one that did not
    WHEN it is printed as a table
    THEN there is a row per portal with its counts, and each says how it ended."""
    from local.workload.summary import Summary, format_table

    row = {"messages": 10, "keys_checked": 4, "mismatches": 0, "requests": 3}
    summary = Summary(
        state_keys_checked=8,
        portals=[
            {**row, "portal": 7, "foreign_token_calls": 0, "foreign_contact_calls": 0, "ok": True},
            {**row, "portal": 8, "foreign_token_calls": 1, "foreign_contact_calls": 0, "ok": False},
        ],
    )
    table = format_table(summary)
    lines = {line.split()[1]: line for line in table.splitlines() if line.strip().startswith("portal ")}
    assert "4 keys" in lines["7"]
    assert lines["7"].endswith(": ended right")
    assert "1 without its token" in lines["8"]
    assert lines["8"].endswith("DID NOT end right")
