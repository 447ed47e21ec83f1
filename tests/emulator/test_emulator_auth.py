"""Authentication and scopes: 401 for missing/unknown/revoked/expired credentials, 403 MISSING_SCOPES,
run-time token rotation, and the OAuth token endpoint in both response spellings."""

from __future__ import annotations

import time

import httpx
import pytest

from local.hubspot_emulator import ALL_SCOPES, Emulator
from tests.emulator.helpers import (
    DAILY_HEADERS,
    DEFINITIONS,
    EMAIL_ONLY,
    READ,
    TOKEN_URL,
    UNSUBSCRIBE_ALL,
    WRITE,
    assert_error,
    contact_path,
    item,
)

CLIENT_ID, CLIENT_SECRET, REFRESH = "client-1", "secret-1", "refresh-1"


def _refresh(anon: httpx.Client, **overrides: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    form["refresh_token"] = REFRESH
    form.update(overrides)
    return anon.post(TOKEN_URL, data=form)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("headers", "sub_category"),
    [
        ({}, "MISSING_CREDENTIALS"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "MISSING_CREDENTIALS"),
        ({"Authorization": "Bearer"}, "MISSING_CREDENTIALS"),
        (_bearer("pat-na1-unknown"), "INVALID_OAUTH_TOKEN"),
    ],
    ids=["no-header", "basic-scheme", "empty-bearer", "unknown-token"],
)
def test_missing_or_unknown_credentials_are_a_401(
    anon: httpx.Client, emu: Emulator, headers: dict[str, str], sub_category: str
) -> None:
    # GIVEN a request without a valid bearer token
    # WHEN it calls batch/write
    response = anon.post(WRITE, json={"inputs": [item()]}, headers=headers)
    # THEN it is a 401 INVALID_AUTHENTICATION and nothing is applied
    body = assert_error(response, 401, "INVALID_AUTHENTICATION")
    assert body["subCategory"] == sub_category
    assert emu.snapshot()["statuses"] == []


def test_a_revoked_token_is_a_401_and_a_new_token_works_at_once(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN a token in use
    emu.add_private_app_token("pat-na1-old")
    assert anon.get(DEFINITIONS, headers=_bearer("pat-na1-old")).status_code == 200
    # WHEN it is rotated: a new one added, the old one revoked
    emu.add_private_app_token("pat-na1-new")
    assert emu.revoke_token("pat-na1-old") is True
    # THEN the old one is a 401 saying it was revoked, and the new one works
    old = assert_error(anon.get(DEFINITIONS, headers=_bearer("pat-na1-old")), 401, "INVALID_AUTHENTICATION")
    assert old["subCategory"] == "REVOKED_TOKEN"
    assert anon.get(DEFINITIONS, headers=_bearer("pat-na1-new")).status_code == 200
    # AND revoking an unknown token reports that nothing was revoked
    assert emu.revoke_token("pat-na1-never") is False


_BATCH_WRITE = "communication_preferences.statuses.batch.write"
_SCOPE_CASES = {
    "batch-write": ("POST", WRITE, None, {"inputs": [item()]}, _BATCH_WRITE),
    "batch-unsubscribe-all": ("POST", UNSUBSCRIBE_ALL, EMAIL_ONLY, {"inputs": ["a@b.co"]}, _BATCH_WRITE),
    "batch-read": (
        "POST",
        READ,
        EMAIL_ONLY,
        {"inputs": ["a@b.co"]},
        "communication_preferences.statuses.batch.read",
    ),
    "definitions": ("GET", DEFINITIONS, None, None, "communication_preferences.read"),
    "get-status": ("GET", contact_path("a@b.co"), EMAIL_ONLY, None, "communication_preferences.read"),
    "post-status": (
        "POST",
        contact_path("a@b.co"),
        None,
        {"subscriptionId": 1001},
        "communication_preferences.write",
    ),
}


@pytest.mark.parametrize("case", list(_SCOPE_CASES.values()), ids=list(_SCOPE_CASES))
def test_a_token_without_the_routes_scope_is_a_403_naming_it(
    anon: httpx.Client, emu: Emulator, case: tuple[str, str, dict | None, dict | None, str]
) -> None:
    method, path, params, body, scope = case
    # GIVEN a token holding every scope except the one the route needs (and read_write, its alternative)
    emu.add_private_app_token("pat-na1-narrow", ALL_SCOPES - {scope, "communication_preferences.read_write"})
    # WHEN it calls the route
    response = anon.request(method, path, params=params, json=body, headers=_bearer("pat-na1-narrow"))
    # THEN it is a 403 MISSING_SCOPES whose first error lists the required scope
    payload = assert_error(response, 403, "MISSING_SCOPES")
    assert scope in payload["errors"][0]["context"]["requiredGranularScopes"]
    assert emu.snapshot()["statuses"] == []


def test_read_write_scope_covers_single_contact_routes_but_not_batch_write(
    anon: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a token with only communication_preferences.read_write
    emu.add_private_app_token("pat-na1-rw", ["communication_preferences.read_write"])
    headers = _bearer("pat-na1-rw")
    # WHEN it reads definitions, writes one contact, and tries a batch write
    definitions = anon.get(DEFINITIONS, headers=headers)
    single = anon.post(contact_path("rw@example.com"), json=_partial(), headers=headers)
    batch = anon.post(WRITE, json={"inputs": [item()]}, headers=headers)
    # THEN the single-contact routes work and batch/write needs its own batch scope
    assert (definitions.status_code, single.status_code) == (200, 200)
    payload = assert_error(batch, 403, "MISSING_SCOPES")
    assert payload["errors"][0]["context"]["requiredGranularScopes"] == [
        "communication_preferences.statuses.batch.write"
    ]


def _partial() -> dict:
    return {"subscriptionId": 1001, "channel": "EMAIL", "statusState": "SUBSCRIBED"}


def test_oauth_refresh_issues_a_working_access_token_snake_case(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN an OAuth app (default v1 snake_case answers)
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, REFRESH)
    # WHEN its refresh token is exchanged (form-encoded)
    response = _refresh(anon)
    # THEN the v1 fields come back with their types
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "refresh_token", "access_token", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["refresh_token"] == REFRESH
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) <= 300
    assert body["expires_in"] == 1800
    # AND the access token authorises API calls, without daily-limit headers (OAuth has none)
    call = anon.post(
        WRITE, json={"inputs": [item("oauth@example.com")]}, headers=_bearer(body["access_token"])
    )
    assert call.status_code == 200
    assert all(h not in call.headers for h in DAILY_HEADERS)
    assert emu.status("oauth@example.com", 1001) is not None


def test_oauth_refresh_in_camel_case(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN a portal answering token requests in camelCase, and an app with one scope
    emu.configure(oauth_response_style="camel")
    emu.add_oauth_app(
        CLIENT_ID, CLIENT_SECRET, REFRESH, scopes=["communication_preferences.statuses.batch.write"]
    )
    # WHEN the refresh token is exchanged
    body = _refresh(anon).json()
    # THEN the camelCase fields come back with their types
    assert body["tokenType"] == "bearer"
    assert body["refreshToken"] == REFRESH
    assert isinstance(body["accessToken"], str)
    assert body["expiresIn"] == 1800
    assert body["hubId"] == emu.config.portal_id
    assert body["scopes"] == ["communication_preferences.statuses.batch.write"]
    assert "access_token" not in body


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"refresh_token": "refresh-unknown"}, "BAD_REFRESH_TOKEN"),
        ({"refresh_token": ""}, "BAD_REFRESH_TOKEN"),
        ({"client_id": "client-unknown"}, "BAD_CLIENT_ID"),
        ({"client_secret": "wrong"}, "BAD_CLIENT_SECRET"),
        ({"grant_type": "password"}, "UNSUPPORTED_GRANT_TYPE"),
    ],
    ids=["unknown-refresh-token", "empty-refresh-token", "unknown-client", "wrong-secret", "wrong-grant"],
)
def test_bad_token_requests_are_a_400_naming_the_problem(
    anon: httpx.Client, emu: Emulator, overrides: dict[str, str], status: str
) -> None:
    # GIVEN a registered app
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, REFRESH)
    # WHEN a token request gets one field wrong
    response = _refresh(anon, **overrides)
    # THEN it is a 400 whose status names the problem
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["message"], str)
    assert body["message"]


def test_a_revoked_refresh_token_can_no_longer_be_exchanged(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN an app whose refresh token worked once
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, REFRESH)
    assert _refresh(anon).status_code == 200
    # WHEN the refresh token is revoked
    emu.revoke_token(REFRESH)
    # THEN exchanging it is a 400 BAD_REFRESH_TOKEN
    response = _refresh(anon)
    assert (response.status_code, response.json()["status"]) == (400, "BAD_REFRESH_TOKEN")


def test_an_expired_access_token_is_a_401_and_a_refresh_fixes_it(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN an app whose access tokens live 0.2 s
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, REFRESH, access_token_ttl_s=0.2)
    first = _refresh(anon).json()
    assert first["expires_in"] == 1
    # WHEN the token is used after it expired
    time.sleep(0.3)
    expired = anon.get(DEFINITIONS, headers=_bearer(first["access_token"]))
    # THEN it is a 401 saying it expired, and a freshly refreshed token works
    body = assert_error(expired, 401, "INVALID_AUTHENTICATION")
    assert body["subCategory"] == "EXPIRED_TOKEN"
    assert "expired" in body["message"]
    fresh = _refresh(anon).json()["access_token"]
    assert fresh != first["access_token"]
    assert anon.get(DEFINITIONS, headers=_bearer(fresh)).status_code == 200


def test_a_revoked_access_token_is_a_401(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN a live OAuth access token
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, REFRESH)
    token = _refresh(anon).json()["access_token"]
    # WHEN it is revoked
    assert emu.revoke_token(token) is True
    # THEN using it is a 401
    assert_error(anon.get(DEFINITIONS, headers=_bearer(token)), 401, "INVALID_AUTHENTICATION")


def test_the_token_endpoint_refuses_a_json_body(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN a token request sent as JSON instead of a form
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, REFRESH)
    # WHEN it is posted
    response = anon.post(TOKEN_URL, json={"grant_type": "refresh_token"})
    # THEN it is a 415 in the Error shape
    assert_error(response, 415, "VALIDATION_ERROR")
