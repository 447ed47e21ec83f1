"""bench.saturation.drain_backlog end to end: events written to payload files before the clock starts
reach the real handler in their execution environments, every update is delivered once, and the
files are gone afterwards (figures 2, 6, 7 and 8 drain through it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import saturation
from bench.harness import CHECK_OFF, world

LABEL = "drain-test"


def test_a_drained_backlog_delivers_every_update_of_every_payload_file_once(tmp_path: Path) -> None:
    # GIVEN the bench's world (moto and the emulator on loopback, the template provisioned)
    with world(tmp_path / "logs") as bench_world:
        bench_world.configure_emulator(request_log_limit=1_000)
        # WHEN two environments drain three events of 20 updates each
        answers, left_over = saturation.drain_backlog(
            bench_world,
            LABEL,
            concurrency=2,
            events=3,
            first_update=500,
            records=20,
            stop_after_s=120,
            env=CHECK_OFF,
        )
        writes = [
            entry for entry in bench_world.emulator.request_log() if entry["route"] == "statuses/batch/write"
        ]
    # THEN each event was one invocation of 20 records, none came back, nothing was left undrained
    assert sorted(answer["records"] for answer in answers) == [20, 20, 20]
    assert all(answer["ok"] and answer["failures"] == 0 for answer in answers)
    assert all(answer["payload_bytes"] > 0 for answer in answers)  # read from a file, as the runtime does
    assert left_over == []  # no environment stopped for time with events left
    # AND HubSpot received each of the 60 updates once, all with 200s
    inputs = [item["subscriberIdString"] for entry in writes for item in entry["body"]["inputs"]]
    assert len(inputs) == 60
    assert len(set(inputs)) == 60
    assert all(entry["status"] == 200 for entry in writes)
    # AND the payload files are removed
    assert not list(Path(tempfile.gettempdir()).glob(f"bench-{LABEL}-*"))
