"""API versions, per version: every route of v4, 2026-03 and 2026-09 behaves alike except 2026-09's
documented differences (partial failure as 200); a retired version answers as an unknown path. Also
the token kinds a real portal has: tokens without the batch scopes, Service Keys, and batch scopes
taken away and given back at run time."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.hubspot_emulator import Emulator
from tests.emulator.helpers import DAILY_HEADERS, EMAIL_ONLY, TOKEN, assert_error, item

VERSIONS = ("v4", "2026-03", "2026-09")
NO_BATCH = "pat-na1-no-batch-scopes"
SERVICE_KEY = "sk-na1-service-key"


def _base(version: str) -> str:
    return f"/communication-preferences/{version}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_writes_reads_and_unsubscribes(
    client: httpx.Client, emu: Emulator, version: str
) -> None:
    # GIVEN a contact
    base = _base(version)
    # WHEN it is written, read back, and opted out of everything through this version's paths
    written = client.post(f"{base}/statuses/batch/write", json={"inputs": [item("ada@example.com")]})
    read = client.post(f"{base}/statuses/batch/read", params=EMAIL_ONLY, json={"inputs": ["ada@example.com"]})
    out = client.post(
        f"{base}/statuses/batch/unsubscribe-all",
        params={**EMAIL_ONLY, "verbose": "true"},
        json={"inputs": ["ada@example.com"]},
    )
    # THEN each answers as the v4 contract does, and the state changed
    assert written.status_code == 200, written.text
    assert written.json()["results"][0]["status"] == "SUBSCRIBED"
    assert read.json()["results"][0]["statuses"][0]["subscriptionId"] == 1001
    assert out.status_code == 200
    assert emu.status("ada@example.com", 1001)["status"] == "UNSUBSCRIBED"  # type: ignore[index]
    assert {entry["route"] for entry in emu.request_log()} == {
        "statuses/batch/write",
        "statuses/batch/read",
        "statuses/batch/unsubscribe-all",
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_serves_the_per_contact_routes(
    client: httpx.Client, emu: Emulator, version: str
) -> None:
    # GIVEN one contact's per-contact paths in this version
    path = f"{_base(version)}/statuses/bob%2Btag@example.com"
    # WHEN it is written one by one and then opted out of all
    written = client.post(
        path, json={"channel": "EMAIL", "statusState": "SUBSCRIBED", "subscriptionId": 1002}
    )
    out = client.post(f"{path}/unsubscribe-all", params=EMAIL_ONLY)
    # THEN both apply (the address is percent-decoded)
    assert written.status_code == 200, written.text
    assert written.json()["results"][0]["subscriberIdString"] == "bob+tag@example.com"
    assert out.status_code == 200
    assert emu.wide_statuses("bob+tag@example.com")[0]["wideStatusType"] == "PORTAL_WIDE"


@pytest.mark.parametrize(("version", "expected"), [("v4", 207), ("2026-03", 207), ("2026-09", 200)])
def test_partial_failure_status_follows_each_version(
    client: httpx.Client, version: str, expected: int
) -> None:
    # GIVEN a batch with one unknown subscription
    inputs = [item("ada@example.com"), item("bob@example.com", 999999)]
    # WHEN it is written
    response = client.post(f"{_base(version)}/statuses/batch/write", json={"inputs": inputs})
    # THEN 2026-09 answers 200 (its documented shape), the others 207; errors[] is there either way
    assert response.status_code == expected
    assert response.json()["numErrors"] == 1
    assert response.json()["errors"][0]["context"]["ids"] == ["bob@example.com"]


def test_2026_09_can_answer_like_the_earlier_versions(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the 2026-09 differences switched off
    emu.configure(documented_2026_09=False)
    inputs = [item("ada@example.com"), item("bob@example.com", 999999)]
    # WHEN a partial failure happens
    response = client.post(f"{_base('2026-09')}/statuses/batch/write", json={"inputs": inputs})
    # THEN it is the 207 of v4 and 2026-03
    assert response.status_code == 207


@pytest.mark.parametrize("retired", VERSIONS)
def test_a_retired_version_answers_as_an_unknown_path(
    client: httpx.Client, emu: Emulator, retired: str
) -> None:
    # GIVEN one version retired
    emu.configure(retired_versions=[retired])
    # WHEN its paths and another version's are called
    gone = client.post(f"{_base(retired)}/statuses/batch/write", json={"inputs": [item()]})
    other = next(v for v in VERSIONS if v != retired)
    kept = client.post(f"{_base(other)}/statuses/batch/write", json={"inputs": [item()]})
    # THEN the retired one is a 404 like any unknown path, and nothing was written through it
    body = assert_error(gone, 404, "OBJECT_NOT_FOUND")
    assert body["subCategory"] == "UNKNOWN_PATH"
    assert kept.status_code == 200
    assert emu.request_log()[0]["route"] == "unknown"


def test_an_unknown_version_cannot_be_retired(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="retired_versions"):
        emu.configure(retired_versions=["v5"])


def _batch_and_contact(client: httpx.Client, token: str) -> tuple[httpx.Response, httpx.Response]:
    base = _base("2026-03")
    headers = _bearer(token)
    batch = client.post(f"{base}/statuses/batch/write", json={"inputs": [item()]}, headers=headers)
    contact = client.post(
        f"{base}/statuses/ada@example.com",
        json={"channel": "EMAIL", "statusState": "SUBSCRIBED", "subscriptionId": 1001},
        headers=headers,
    )
    return batch, contact


def test_a_token_without_the_batch_scopes_can_still_write_per_contact(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a token of a portal whose tier has no batch scopes
    emu.add_private_app_token(NO_BATCH, profile="no-batch")
    # WHEN it calls the batch route and the per-contact route
    batch, contact = _batch_and_contact(client, NO_BATCH)
    # THEN the batch call is a 403 naming the batch scope, and the per-contact write applies
    body = assert_error(batch, 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [
        "communication_preferences.statuses.batch.write"
    ]
    assert contact.status_code == 200
    assert emu.status("ada@example.com", 1001) is not None


def test_a_service_key_is_a_bearer_token_with_a_private_apps_limits(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a Service Key registered over the control API
    added = client.post("/_emulator/tokens", json={"token": SERVICE_KEY, "kind": "service-key"})
    # WHEN it writes
    batch, _ = _batch_and_contact(client, SERVICE_KEY)
    # THEN it authenticates and carries the daily headers like a private app
    assert added.status_code == 200
    assert batch.status_code == 200
    assert all(header in batch.headers for header in DAILY_HEADERS)


def test_batch_scopes_can_be_dropped_and_restored_at_run_time(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the test token with every scope
    answers: list[Any] = []
    # WHEN its batch scopes are taken away, then given back, over the control API
    for granted in (False, True):
        changed = client.post("/_emulator/tokens/batch-scopes", json={"token": TOKEN, "granted": granted})
        assert changed.json() == {"changed": True}
        answers.append(_batch_and_contact(client, TOKEN))
    # THEN batch calls are 403 while dropped and 200 after; per-contact calls work throughout
    (dropped_batch, dropped_contact), (restored_batch, restored_contact) = answers
    assert (dropped_batch.status_code, dropped_contact.status_code) == (403, 200)
    assert (restored_batch.status_code, restored_contact.status_code) == (200, 200)


def test_dropping_scopes_of_an_unknown_token_changes_nothing(client: httpx.Client) -> None:
    answer = client.post("/_emulator/tokens/batch-scopes", json={"token": "nobody", "granted": False})
    assert answer.json() == {"changed": False}


def test_an_unknown_scope_profile_is_refused(client: httpx.Client) -> None:
    answer = client.post("/_emulator/tokens", json={"token": "t-1", "profile": "everything"})
    assert answer.status_code == 400
    assert "unknown scope profile" in answer.json()["message"]
