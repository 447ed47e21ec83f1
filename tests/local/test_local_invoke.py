"""`make invoke EVENT=...`: one event through the real handler against moto and the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_local_run import alive, children_of

from local.invoke import load_event

REPO = Path(__file__).resolve().parents[2]


def start_invoke(*argv: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.invoke", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sqs_batch_json_runs_through_the_real_handler_and_everything_stops() -> None:
    # GIVEN the sample batch event
    run = start_invoke("events/sqs-batch.json")
    # WHEN it runs (watching the processes it starts)
    started: set[int] = set()
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        started |= children_of(run.pid)
        time.sleep(0.1)
    out, err = run.communicate(timeout=30)
    # THEN the handler applied all six records and answered an empty partial batch response
    assert run.returncode == 0, out[-2000:] + err[-2000:]
    response = json.loads(out.split("partial batch response:\n", 1)[1])
    assert response == {"batchItemFailures": []}
    processed = [
        json.loads(line)
        for line in out.splitlines()
        if line.startswith("  {") and '"batch processed"' in line
    ]
    assert [(p["records"], p["applied"], p["dead_lettered"]) for p in processed] == [(6, 6, 0)]
    # the emulator was reached over loopback: the freshness check's two reads, then one write
    assert processed[0]["hubspot_calls"] == 3
    # AND moto and the worker were started and none is left running
    assert len(started) >= 2
    assert [pid for pid in started if alive(pid)] == []


def test_invalid_records_go_to_the_local_dlq() -> None:
    run = start_invoke("events/sqs-invalid-and-duplicates.json")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err[-2000:]
    assert "6 message(s) in the local DLQ" in out


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "is not JSON"),
        ('{"Records": []}', "no Records"),
        ('{"Records": [{"eventSource": "aws:sns"}]}', "eventSource aws:sqs"),
    ],
)
def test_a_file_that_is_not_an_sqs_event_is_refused(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=why):
        load_event(path)


def test_a_bad_event_path_exits_2_with_one_line_and_starts_nothing() -> None:
    run = start_invoke("events/no-such-event.json")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 2
    assert err.strip().count("\n") == 0
    assert "no such file" in err
    assert out == ""
