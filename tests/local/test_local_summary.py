"""The run's summary: an interrupted run shows what it counted and no check that never ran."""

from __future__ import annotations

import json
import re

from local.workload.summary import CHECK_FIELDS, Summary, format_table, print_summary


class Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_an_interrupted_run_says_so_and_shows_no_checks() -> None:
    # GIVEN a run stopped by Ctrl-C after sending 40 messages
    summary = Summary(sent=40, applied=12, interrupted=True, problems=["interrupted (SIGINT)"])
    # WHEN its summary is printed
    out = Out()
    print_summary(summary, out)  # type: ignore[arg-type]
    table, last = out.text.rstrip("\n").rsplit("\n", 1)
    # THEN it says it was interrupted, shows the counts, and no check (no "lost 0")
    assert "RESULT: INTERRUPTED - interrupted (SIGINT)" in table
    assert re.search(r"messages sent\s+40", table)
    assert "Checks" not in table
    assert "lost" not in table
    assert "in flight" not in table
    # AND the JSON line carries no check figure either
    data = json.loads(last)
    assert data["interrupted"] is True
    assert data["sent"] == 40
    assert not set(CHECK_FIELDS) & set(data)


def test_a_finished_run_shows_every_check() -> None:
    summary = Summary(sent=40, applied=40, ties_accepted=2)
    table = format_table(summary)
    assert "Checks" in table
    assert re.search(r"lost\s+0", table)
    assert re.search(r"keys tied, accepted either way\s+2", table)
    assert "RESULT: OK" in table
    assert set(CHECK_FIELDS) <= set(summary.to_dict())
