"""The control surface: `/_emulator/...` over HTTP, the in-process request log and counters, reset, and the
rule that no token (or OAuth secret) is ever kept in clear."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from local.hubspot_emulator import Emulator, Faults
from tests.emulator.helpers import DEFINITIONS, TOKEN, TOKEN_URL, WRITE, item, write

CONTROL = "/_emulator"


def test_health_config_and_faults_round_trip_over_http(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN the control surface (no credentials)
    assert anon.get(f"{CONTROL}/health").json() == {"ok": True}
    # WHEN the config and the fault profile are changed over HTTP
    config = anon.post(f"{CONTROL}/config", json={"batch_limit": 5, "error_context_keys": ["emailAddress"]})
    faults = anon.post(f"{CONTROL}/faults", json={"script": ["503"], "latency_ms": 1})
    # THEN the answers and the in-process view agree
    assert config.status_code == 200
    assert (config.json()["batch_limit"], config.json()["error_context_keys"]) == (5, ["emailAddress"])
    assert emu.config.batch_limit == 5
    assert faults.json() == {"faults": emu.faults().to_dict(), "remaining_script": ["503"]}
    assert anon.get(f"{CONTROL}/config").json() == emu.config.to_dict()


def test_a_named_fault_profile_can_be_set_over_http(anon: httpx.Client, emu: Emulator) -> None:
    # WHEN the throttled profile is selected by name
    response = anon.post(f"{CONTROL}/faults", json={"profile": "throttled"})
    # THEN it is the active profile
    assert response.status_code == 200
    assert emu.faults().throttle_rate > 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("config", {"batch_limt": 5}),
        ("config", {"partial_status_code": 418}),
        ("faults", {"error_rate": 2}),
        ("faults", {"script": ["explode"]}),
        ("faults", {"profile": "nope"}),
        ("tokens", {"scopes": []}),
    ],
    ids=["typo-field", "bad-status", "rate-over-one", "unknown-script-entry", "unknown-profile", "no-token"],
)
def test_bad_control_requests_are_a_400_and_change_nothing(
    anon: httpx.Client, emu: Emulator, path: str, body: dict
) -> None:
    # GIVEN the start config and faults
    before = (emu.config, emu.faults())
    # WHEN a bad control request is sent
    response = anon.post(f"{CONTROL}/{path}", json=body)
    # THEN it is a 400 in the Error shape and nothing changed
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert (emu.config, emu.faults()) == before


def test_unknown_control_routes_are_a_404(anon: httpx.Client) -> None:
    assert anon.get(f"{CONTROL}/nothing").status_code == 404


def test_tokens_and_oauth_apps_can_be_managed_over_http(anon: httpx.Client) -> None:
    # GIVEN a token and an OAuth app added over HTTP
    assert anon.post(f"{CONTROL}/tokens", json={"token": "pat-na1-http", "scopes": None}).json() == {
        "ok": True
    }
    anon.post(
        f"{CONTROL}/oauth-apps",
        json={"client_id": "c", "client_secret": "s", "refresh_token": "r", "access_token_ttl_s": 60},
    )
    form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    # WHEN both are used, and the token is then revoked over HTTP
    with_token = anon.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-http"})
    refreshed = anon.post(TOKEN_URL, data=form)
    revoked = anon.post(f"{CONTROL}/tokens/revoke", json={"token": "pat-na1-http"})
    after = anon.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-http"})
    # THEN each step had its effect
    assert (with_token.status_code, refreshed.status_code) == (200, 200)
    assert refreshed.json()["expires_in"] == 60
    assert revoked.json() == {"revoked": True}
    assert after.status_code == 401


def test_state_status_and_wide_statuses_over_http(
    client: httpx.Client, anon: httpx.Client, emu: Emulator
) -> None:
    # GIVEN one write and one unsubscribe-all
    write(client, item("hal@example.com", 1002))
    client.post(
        f"{WRITE.removesuffix('/write')}/unsubscribe-all",
        params={"channel": "EMAIL"},
        json={"inputs": ["i@j.co"]},
    )
    # WHEN the state is read over HTTP
    state = anon.get(f"{CONTROL}/state").json()
    status = anon.get(
        f"{CONTROL}/status", params={"email": "HAL@example.com", "subscription_id": 1002}
    ).json()
    missing = anon.get(
        f"{CONTROL}/status", params={"email": "hal@example.com", "subscription_id": 1001}
    ).json()
    wide = anon.get(f"{CONTROL}/wide-statuses", params={"email": "i@j.co"}).json()
    # THEN it matches the in-process view
    assert state == emu.snapshot()
    assert status == {"status": emu.status("hal@example.com", 1002)}
    assert missing == {"status": None}
    assert wide == {"wide_statuses": emu.wide_statuses("i@j.co")}


def test_reset_over_http_clears_state_log_counters_config_and_faults(
    client: httpx.Client, anon: httpx.Client, emu: Emulator
) -> None:
    # GIVEN state, a log, counters, a changed config and faults
    write(client, item())
    emu.configure(batch_limit=2)
    emu.set_faults(Faults(script=("503",)))
    emu.add_private_app_token("pat-na1-extra")
    # WHEN reset over HTTP (keeping credentials, the default)
    assert anon.post(f"{CONTROL}/reset").json() == {"ok": True}
    # THEN everything is back to the start, and added credentials survive
    assert emu.snapshot() == {"statuses": [], "wideStatuses": []}
    assert emu.request_log() == []
    assert emu.counters()["total"] == 0
    assert emu.config.batch_limit == 100
    assert emu.faults() == Faults()
    assert anon.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-extra"}).status_code == 200
    # AND keep_tokens=false also drops credentials added since start
    anon.post(f"{CONTROL}/reset", json={"keep_tokens": False})
    assert anon.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-extra"}).status_code == 401
    assert client.get(DEFINITIONS).status_code == 200


def test_the_request_log_records_each_api_request(
    client: httpx.Client, anon: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a write with a query string, and control calls (which are not logged)
    write(client, item("log@example.com"))
    client.get(DEFINITIONS, params={"businessUnitId": "1"})
    anon.get(f"{CONTROL}/counters")
    # WHEN the log is read over HTTP
    entries = anon.get(f"{CONTROL}/requests").json()["requests"]
    # THEN it holds the API requests with their documented fields
    assert entries == emu.request_log()
    assert [(e["method"], e["route"], e["status"]) for e in entries] == [
        ("POST", "statuses/batch/write", 200),
        ("GET", "definitions", 200),
    ]
    first, second = entries
    assert first["path"] == WRITE
    assert first["body"] == {"inputs": [item("log@example.com")]}
    assert second["query"] == {"businessUnitId": "1"}
    assert first["token_fingerprint"] == hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert isinstance(first["duration_ms"], float)
    assert first["faults"] == []


def test_a_reads_log_entry_holds_what_it_answered(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a contact with one status, and a workflow's portal-wide opt-out of another
    write(client, item("held@example.com"))
    emu.actor({"email": "out@example.com", "action": "unsubscribe_all", "source": "AUTOMATION_WORKFLOW"})
    # WHEN both are read in batch form
    base = WRITE.rsplit("/batch/write", 1)[0]
    for route in ("batch/read", "batch/unsubscribe-all/read"):
        answer = client.post(
            f"{base}/{route}",
            params={"channel": "EMAIL"},
            json={"inputs": ["held@example.com", "out@example.com"]},
        )
        assert answer.status_code == 200
    # THEN each read's entry lists the statuses it answered, one short line each (chaos explains keys by it)
    statuses, wide = emu.request_log()[-2:]
    assert any(line.startswith("held@example.com 1001=SUBSCRIBED") for line in statuses["held"])
    assert [line.split(" ")[1] for line in wide["held"] if line.startswith("out@")] == [
        "PORTAL_WIDE:None=UNSUBSCRIBED"
    ]
    assert "held" not in emu.request_log()[0]  # a write's entry does not


def test_the_request_log_never_holds_a_token_or_oauth_secret(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN calls carrying a private-app token, a refresh exchange and the issued access token
    emu.add_oauth_app("cid-log", "very-secret-value", "refresh-secret-value")
    form = {
        "grant_type": "refresh_token",
        "client_id": "cid-log",
        "client_secret": "very-secret-value",
        "refresh_token": "refresh-secret-value",
    }
    access = anon.post(TOKEN_URL, data=form).json()["access_token"]
    anon.get(DEFINITIONS, headers={"Authorization": f"Bearer {access}"})
    anon.get(DEFINITIONS, headers={"Authorization": f"Bearer {TOKEN}"})
    anon.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-unknown-secret"})
    # WHEN the whole log is serialised
    dumped = json.dumps(emu.request_log()) + anon.get(f"{CONTROL}/requests").text
    # THEN no secret appears in clear, but the form keeps its non-secret fields
    for secret in (TOKEN, access, "very-secret-value", "refresh-secret-value", "pat-na1-unknown-secret"):
        assert secret not in dumped
    oauth_entry = emu.request_log()[0]
    assert oauth_entry["body"]["client_id"] == "cid-log"
    assert oauth_entry["body"]["client_secret"].startswith("sha256:")
    assert oauth_entry["token_fingerprint"] is None


def test_counters_break_requests_down_by_route_status_policy_and_fault(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a served write, a 207, an injected 503 and an injected 429
    write(client, item())
    write(client, item(subscription_id=1))
    emu.set_faults(Faults(script=("503", "429")))
    client.get(DEFINITIONS)
    client.get(DEFINITIONS)
    # WHEN the counters are read
    counters = emu.counters()
    # THEN each dimension is counted
    assert counters["total"] == 4
    assert counters["by_route"] == {
        "definitions": {"503": 1, "429": 1},
        "statuses/batch/write": {"200": 1, "207": 1},
    }
    assert counters["by_status"] == {"200": 1, "207": 1, "503": 1, "429": 1}
    assert counters["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}
    assert counters["faults"] == {"503": 1, "429": 1}
    assert counters["daily_used"] == 2


def test_the_request_log_is_bounded(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a log limited to 3 entries
    emu.configure(request_log_limit=3)
    # WHEN 5 requests are made
    for n in range(5):
        client.get(DEFINITIONS, params={"n": str(n)})
    # THEN only the newest 3 are kept
    assert [e["query"]["n"] for e in emu.request_log()] == ["2", "3", "4"]


def test_an_oversized_control_body_is_a_413_and_changes_nothing(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN a 4 KiB body cap
    emu.configure(max_body_bytes=4096)
    # WHEN a config change arrives in a 10 KiB body
    padded = json.dumps({"batch_limit": 5}) + " " * 10_000
    response = anon.post(f"{CONTROL}/config", content=padded, headers={"Content-Type": "application/json"})
    # THEN it is refused and the config is unchanged
    assert response.status_code == 413
    assert emu.config.batch_limit == 100
