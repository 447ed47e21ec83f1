"""The documented command line, run as a real subprocess: it prints one `listening on` line, serves, and
exits cleanly on SIGTERM; flags and JSON options configure it; a bad command line exits 2."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.emulator.conftest import SHARED_TLS
from tests.emulator.helpers import TOKEN_URL, WRITE, item

ROOT = Path(__file__).resolve().parents[2]


def _read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the emulator printed nothing in time")
    return proc.stdout.readline()


@contextmanager
def _cli(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    cmd = [sys.executable, "-m", "local.hubspot_emulator", "--host", "127.0.0.1", "--port", "0", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv, our own module
    try:
        line = _read_line(proc)
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_the_cli_prints_its_url_serves_and_stops_on_sigterm() -> None:
    # GIVEN the emulator started from the shell with a free port and a token
    with _cli("--token", "pat-cli") as (proc, line):
        # THEN it printed exactly the listening line with a real port
        assert line.startswith("listening on http://127.0.0.1:")
        base_url = line.removeprefix("listening on ").strip()
        assert int(base_url.rsplit(":", 1)[1]) > 0
        # WHEN a client writes with the token
        with httpx.Client(base_url=base_url, verify=SHARED_TLS, timeout=5) as client:
            response = client.post(
                WRITE, json={"inputs": [item()]}, headers={"Authorization": "Bearer pat-cli"}
            )
            state = client.get("/_emulator/state").json()
        # THEN it is served and applied
        assert response.status_code == 200
        assert [s["subscriberIdString"] for s in state["statuses"]] == ["ada@example.com"]
        # AND SIGTERM stops it with exit code 0
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_flags_override_the_json_config_and_select_faults() -> None:
    # GIVEN a JSON config, a flag overriding one of its fields, a fault profile and an OAuth app
    config = json.dumps({"batch_limit": 2, "gdpr_enabled": True})
    args = ("--config", config, "--batch-limit", "3", "--fault-profile", "throttled", "--retry-after", "4")
    with _cli(*args, "--oauth-app", "cid:csecret:rtoken:90", "--oauth-response-style", "camel") as (_, line):
        base_url = line.removeprefix("listening on ").strip()
        with httpx.Client(base_url=base_url, verify=SHARED_TLS, timeout=5) as client:
            # WHEN its settings are read back and the OAuth app is used
            settings = client.get("/_emulator/config").json()
            faults = client.get("/_emulator/faults").json()["faults"]
            form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "csecret"}
            token = client.post(TOKEN_URL, data={**form, "refresh_token": "rtoken"}).json()
    # THEN the flag won over the JSON, the JSON's other field applied, and the profile and app are active
    assert (settings["batch_limit"], settings["gdpr_enabled"], settings["retry_after_seconds"]) == (
        3,
        True,
        4,
    )
    assert faults["throttle_rate"] > 0
    assert token["expiresIn"] == 90


def test_a_bad_command_line_exits_2_with_a_message() -> None:
    # WHEN the CLI gets an invalid config value
    result = subprocess.run(
        [sys.executable, "-m", "local.hubspot_emulator", "--port", "0", "--partial-status-code", "500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # THEN it exits 2, prints nothing on stdout, and explains on stderr
    assert result.returncode == 2
    assert result.stdout == ""
    assert "partial-status-code" in result.stderr
