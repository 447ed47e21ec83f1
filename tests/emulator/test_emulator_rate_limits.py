"""Rate limits: headers on every response, the rolling TEN_SECONDLY_ROLLING window per app, the portal's
DAILY counter (private apps only), 429 bodies, optional Retry-After, and 429s consuming no quota."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from local.hubspot_emulator import Emulator
from tests.emulator.helpers import DAILY_HEADERS, DEFINITIONS, RATE_HEADERS, TOKEN_URL, WRITE, item, write


def _remaining(response: httpx.Response) -> tuple[int, int]:
    return (
        int(response.headers["X-HubSpot-RateLimit-Remaining"]),
        int(response.headers["X-HubSpot-RateLimit-Daily-Remaining"]),
    )


def _assert_429(response: httpx.Response, policy: str) -> dict:
    assert response.status_code == 429
    body = response.json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == policy
    assert isinstance(body["message"], str)
    assert uuid.UUID(body["correlationId"])
    return body


def test_every_kind_of_response_carries_the_rate_limit_headers(
    client: httpx.Client, anon: httpx.Client, emu: Emulator
) -> None:
    # GIVEN one request of each response class
    responses = {
        200: write(client, item()),
        207: write(client, item(subscription_id=5)),
        400: client.post(WRITE, json={}),
        401: anon.get(DEFINITIONS),
        404: client.get("/nope"),
        405: client.get(WRITE),
    }
    # THEN each has Max, Remaining and Interval as integers matching the config
    for status, response in responses.items():
        assert response.status_code == status
        for header in RATE_HEADERS:
            assert response.headers[header].isdigit(), (status, header)
        assert int(response.headers["X-HubSpot-RateLimit-Max"]) == emu.config.rate_limit_max
        assert int(response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"]) == 10_000
    # AND authenticated private-app responses also carry the daily pair
    for status in (200, 207, 400):
        assert responses[status].headers["X-HubSpot-RateLimit-Daily"] == str(emu.config.daily_limit)


def test_remaining_counts_down_for_admitted_requests_only(client: httpx.Client, anon: httpx.Client) -> None:
    # GIVEN a fresh window
    first = _remaining(write(client, item()))
    # WHEN an unauthenticated request and a validation failure happen
    anon.get(DEFINITIONS)
    invalid = _remaining(client.post(WRITE, json={}))
    # THEN the 401 consumed nothing and the 400 (authenticated, admitted) consumed one
    assert first == (189, 999_999)
    assert invalid == (188, 999_998)


def test_the_ten_secondly_window_refuses_with_a_429_and_then_rolls(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN 2 requests per 300 ms
    emu.configure(rate_limit_max=2, rate_limit_interval_ms=300)
    admitted = [client.get(DEFINITIONS) for _ in range(2)]
    # WHEN a third comes within the window
    refused = client.get(DEFINITIONS)
    # THEN it is a 429 TEN_SECONDLY_ROLLING with Remaining 0 and the window in the headers
    assert [r.status_code for r in admitted] == [200, 200]
    body = _assert_429(refused, "TEN_SECONDLY_ROLLING")
    assert "groupName" in body
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert refused.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "300"
    assert "Retry-After" not in refused.headers
    # AND once the window has rolled, requests are admitted again
    time.sleep(0.35)
    assert client.get(DEFINITIONS).status_code == 200
    assert emu.counters()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}


def test_a_429_consumes_no_quota(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a window already full
    emu.configure(rate_limit_max=1, rate_limit_interval_ms=60_000)
    before = _remaining(client.get(DEFINITIONS))
    # WHEN three more requests are refused
    refused = [client.get(DEFINITIONS) for _ in range(3)]
    # THEN the daily count did not move
    assert [r.status_code for r in refused] == [429, 429, 429]
    assert all(_remaining(r)[1] == before[1] for r in refused)
    assert emu.counters()["daily_used"] == 1


def test_the_windows_are_per_app(client: httpx.Client, anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN one private app that used up its window
    emu.configure(rate_limit_max=1, rate_limit_interval_ms=60_000)
    client.get(DEFINITIONS)
    assert client.get(DEFINITIONS).status_code == 429
    # WHEN a second private app calls
    emu.add_private_app_token("pat-na1-other")
    other = anon.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-other"})
    # THEN it has its own window
    assert other.status_code == 200


def test_the_daily_limit_refuses_private_apps_with_a_daily_429(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a daily limit of 2 shared by the portal's private apps
    emu.configure(daily_limit=2)
    emu.add_private_app_token("pat-na1-second")
    client.get(DEFINITIONS)
    client.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-second"})
    # WHEN either app calls again
    refused = client.get(DEFINITIONS, headers={"Authorization": "Bearer pat-na1-second"})
    # THEN it is a 429 DAILY with Daily-Remaining 0
    body = _assert_429(refused, "DAILY")
    assert "requestId" in body
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert emu.counters()["rate_limited"] == {"DAILY": 1}


def test_oauth_apps_are_not_subject_to_the_daily_limit(anon: httpx.Client, emu: Emulator) -> None:
    # GIVEN an exhausted daily limit and an OAuth app
    emu.configure(daily_limit=0)
    emu.add_oauth_app("cid", "csecret", "rt")
    token = anon.post(
        TOKEN_URL,
        data={
            "grant_type": "refresh_token",
            "client_id": "cid",
            "client_secret": "csecret",
            "refresh_token": "rt",
        },
    ).json()["access_token"]
    # WHEN the OAuth token calls the API
    response = anon.get(DEFINITIONS, headers={"Authorization": f"Bearer {token}"})
    # THEN it is served, and no daily headers are sent
    assert response.status_code == 200
    assert all(h not in response.headers for h in DAILY_HEADERS)
    assert all(h in response.headers for h in RATE_HEADERS)


@pytest.mark.parametrize("seconds", [0, 7])
def test_retry_after_is_sent_on_429_when_configured(
    client: httpx.Client, emu: Emulator, seconds: int
) -> None:
    # GIVEN Retry-After configured and a full window
    emu.configure(retry_after_seconds=seconds, rate_limit_max=1, rate_limit_interval_ms=60_000)
    ok = client.get(DEFINITIONS)
    # WHEN a request is refused
    refused = client.get(DEFINITIONS)
    # THEN the 429 carries Retry-After in seconds and the 200 did not
    assert refused.headers["Retry-After"] == str(seconds)
    assert "Retry-After" not in ok.headers
