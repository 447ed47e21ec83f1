"""The preflight against the emulator over loopback: each check, its verdict and exit status, and the
emulator's request log and state showing that it wrote nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from local import preflight
from local import run as local_run
from local.hubspot_emulator import DEFAULT_SUBSCRIPTIONS, Emulator, Subscription, running_emulator

TOKEN = "pat-na1-preflight-full"
NO_BATCH = "pat-na1-preflight-no-batch"
READ_ONLY = "pat-na1-preflight-read-only"


@pytest.fixture(scope="module")
def portal() -> Iterator[Emulator]:
    with running_emulator(tokens=[TOKEN]) as emulator:
        yield emulator


@pytest.fixture
def emu(portal: Emulator) -> Emulator:
    portal.reset(keep_tokens=False)
    portal.add_private_app_token(NO_BATCH, profile="no-batch")
    portal.add_private_app_token(READ_ONLY, profile="read-only")
    return portal


def _run(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, token: str = TOKEN, ids: str = "1001,2001", *extra: str
) -> tuple[int, dict[str, tuple[str, str]], str]:
    """Exit status, the table as {check: (verdict, detail)}, and the whole output."""
    monkeypatch.setenv("PREFLIGHT_TOKEN", token)
    out = io.StringIO()
    argv = [
        "--hubspot-url",
        emu.base_url,
        "--token-env",
        "PREFLIGHT_TOKEN",
        "--subscription-ids",
        ids,
        *extra,
    ]
    status = preflight.main(argv, out)
    return status, _table(out.getvalue()), out.getvalue()


def _table(text: str) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("check "))
    verdict_at = lines[header].index("verdict")
    detail_at = lines[header].index("detail")
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        rows[line[:verdict_at].strip()] = (line[verdict_at:detail_at].strip(), line[detail_at:].strip())
    return rows


def _wrote_nothing(emu: Emulator) -> None:
    """No state, and every request was a read or a write-route call refused before it could apply."""
    assert emu.snapshot() == {"statuses": [], "wideStatuses": []}
    log = emu.request_log()
    assert log
    for entry in log:
        assert (
            entry["method"] == "GET"
            or entry["route"] == "statuses/batch/read"
            or entry["status"] in (400, 401, 403)
        )


def test_a_portal_with_every_scope_passes_and_nothing_is_written(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WHEN the preflight checks a portal with every scope and two existing subscriptions
    status, table, text = _run(emu, monkeypatch)
    # THEN every check passes, each subscription is named with its brand, and nothing was written
    assert status == 0
    assert table["token authenticates"][0] == "ok"
    assert table["API version 2026-03"][0] == "ok"
    assert table["subscription 1001"] == ("ok", "Newsletter (brand 0), active")
    assert table["subscription 2001"] == ("ok", "Brand news (brand 1), active")
    assert [table[f"scope: {s}"][0] for s in ("batch read", "batch write", "per-contact write")] == ["ok"] * 3
    assert table["write mode"][1].startswith("batch")
    assert table["legal basis"][0] == "info"
    assert "cannot be told without a write" in table["legal basis"][1]
    assert "nothing was written" in text
    assert "verdict: the deployment would work" in text
    assert TOKEN not in text
    _wrote_nothing(emu)


def test_the_rate_limit_headers_give_both_throughputs(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a Starter portal: 100 requests per 10 s, 250,000 a day
    emu.configure(rate_limit_max=100, daily_limit=250_000)
    # WHEN the preflight runs
    _, table, _ = _run(emu, monkeypatch)
    # THEN it reports the limit and what it allows in batch (100 a call) and per contact (1 a call)
    assert table["rate limit"][1] == "100 requests per 10 s = 10 calls/s"
    assert table["throughput: batch"][1].startswith(
        "up to 1,000 contacts/s (100 a call); daily limit 250,000"
    )
    assert (
        table["throughput: per contact"][1]
        == "up to 10 contacts/s (1 a call); at most 250,000 contacts a day"
    )


def test_a_portal_without_the_batch_scopes_works_per_contact(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WHEN the token lacks the batch scopes
    status, table, _ = _run(emu, monkeypatch, NO_BATCH)
    # THEN it still would work, per contact, and says so
    assert status == 0
    assert table["scope: batch write"] == ("warn", "missing (403 MISSING_SCOPES)")
    assert table["scope: per-contact write"][0] == "ok"
    assert table["write mode"][1].startswith("per contact")
    assert table["throughput: batch"][0] == "warn"
    _wrote_nothing(emu)


def test_a_token_that_cannot_write_fails(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    status, table, text = _run(emu, monkeypatch, READ_ONLY)
    assert status == 1
    assert table["scope: per-contact write"] == ("FAIL", "missing (403 MISSING_SCOPES)")
    assert table["write mode"][0] == "FAIL"
    assert "would NOT work" in text
    _wrote_nothing(emu)


def test_an_unknown_token_fails_authentication(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    status, table, _ = _run(emu, monkeypatch, "pat-na1-not-registered")
    assert status == 1
    assert table["token authenticates"][0] == "FAIL"
    assert "INVALID_AUTHENTICATION" in table["token authenticates"][1]
    _wrote_nothing(emu)


def test_missing_and_inactive_subscriptions_fail(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a portal where 1003 is inactive, and an id it does not have
    emu.configure(
        subscriptions=[
            s if s.id != 1003 else Subscription(1003, "Events", is_active=False)
            for s in DEFAULT_SUBSCRIPTIONS
        ]
    )
    # WHEN both are checked next to a good one
    status, table, _ = _run(emu, monkeypatch, TOKEN, "1001,1003,4242")
    # THEN each gets its own verdict and the run fails
    assert status == 1
    assert table["subscription 1001"][0] == "ok"
    assert table["subscription 1003"] == ("FAIL", "Events (brand 0): not active, writes to it are refused")
    assert table["subscription 4242"] == ("FAIL", "not among the portal's subscription definitions")


def test_a_retired_version_fails_and_another_one_passes(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a portal that no longer serves v4
    emu.configure(retired_versions=["v4"])
    # WHEN the preflight checks v4, then 2026-09
    retired, table, _ = _run(emu, monkeypatch, TOKEN, "1001", "--api-version", "v4")
    served, other, _ = _run(emu, monkeypatch, TOKEN, "1001", "--api-version", "2026-09")
    # THEN v4 fails naming the path, 2026-09 passes
    assert retired == 1
    assert table["API version v4"][0] == "FAIL"
    assert "/communication-preferences/v4/definitions" in table["API version v4"][1]
    assert served == 0
    assert other["API version 2026-09"][0] == "ok"


def test_make_run_dry_run_delegates_to_the_preflight(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN `make run ARGS="--hubspot-url URL --dry-run --token-env VAR --subscription-ids 1001"` runs
    monkeypatch.setenv("PREFLIGHT_TOKEN", TOKEN)
    argv = [
        "--hubspot-url",
        emu.base_url,
        "--dry-run",
        "--token-env",
        "PREFLIGHT_TOKEN",
        "--subscription-ids",
        "1001",
    ]
    status = local_run.main(argv)
    # THEN the preflight answered (no queues, no workers) and wrote nothing
    assert status == 0
    assert "verdict: the deployment would work" in capsys.readouterr().out
    _wrote_nothing(emu)


@pytest.mark.parametrize(
    "argv",
    [
        ["--hubspot-url", "http://example.com", "--subscription-ids", "1"],
        ["--hubspot-url", "http://127.0.0.1:9", "--subscription-ids", "one"],
    ],
)
def test_bad_arguments_exit_2_before_any_call(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    assert preflight.main(argv, io.StringIO()) == 2


def test_an_empty_token_variable_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    assert (
        preflight.main(["--hubspot-url", "http://127.0.0.1:9", "--subscription-ids", "1"], io.StringIO()) == 2
    )
