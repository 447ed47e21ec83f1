"""HubSpot-side writers over HTTP: `POST /_emulator/actor` (docs/emulator.md, Control API). A change a
contact, a marketer or a workflow makes in HubSpot, at its own timestamp and with its own source, seen
by the API's reads as HubSpot would show it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.hubspot_emulator import Emulator, Faults
from local.hubspot_emulator.remote import act
from tests.emulator.helpers import READ, UNSUBSCRIBE_ALL_READ, contact_path, item, write

ACTOR = "/_emulator/actor"
ADA = "ada@example.com"
T1 = "2026-01-01T00:00:05.250Z"
T2 = "2026-01-01T00:00:09.000Z"
LATER = "2027-06-01T12:00:00.000Z"  # after the API writes a test makes first (HubSpot's clock goes forward)


def _status(sub: int, state: str, **extra: Any) -> dict[str, Any]:
    return {"email": ADA, "action": "status", "subscription_id": sub, "state": state, **extra}


def _read(client: httpx.Client) -> dict[int, dict[str, Any]]:
    answer = client.post(READ, params={"channel": "EMAIL"}, json={"inputs": [ADA]})
    assert answer.status_code == 200
    return {s["subscriptionId"]: s for s in answer.json()["results"][0]["statuses"]}


def _wide(client: httpx.Client) -> list[dict[str, Any]]:
    answer = client.post(UNSUBSCRIBE_ALL_READ, params={"channel": "EMAIL"}, json={"inputs": [ADA]})
    assert answer.status_code == 200
    wide: list[dict[str, Any]] = answer.json()["results"][0]["wideStatuses"]
    return wide


def test_a_status_change_keeps_its_own_timestamp_and_source_in_every_read(
    anon: httpx.Client, client: httpx.Client, emu: Emulator
) -> None:
    """GIVEN a contact with no status
    WHEN a marketer sets 1001 UNSUBSCRIBED in HubSpot at T1 with source CRM_UI
    THEN the answer, batch/read and the per-contact GET all show that status, T1 and CRM_UI"""
    answer = anon.post(ACTOR, json=_status(1001, "UNSUBSCRIBED", timestamp=T1, source="CRM_UI"))
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert (result["status"], result["timestamp"], result["source"]) == ("UNSUBSCRIBED", T1, "CRM_UI")
    assert result["setStatusSuccessReason"] == "REQUESTED_CHANGE_OCCURRED"
    assert answer.json()["wide_statuses"] == []
    read = _read(client)[1001]
    assert (read["status"], read["timestamp"], read["source"]) == ("UNSUBSCRIBED", T1, "CRM_UI")
    (single,) = client.get(contact_path(ADA), params={"channel": "EMAIL"}).json()["results"]
    assert (single["timestamp"], single["source"]) == (T1, "CRM_UI")


def test_the_default_source_is_the_contacts_preferences_page_and_the_default_time_is_now(
    anon: httpx.Client, client: httpx.Client
) -> None:
    """GIVEN an API write of 1002 with the API's own source
    WHEN the contact then subscribes to 1001 without naming a source or a time
    THEN 1001 reads SUBSCRIPTION_PREFERENCES_PAGE at a time no older than the API write's, and 1002
    keeps the API's source"""
    assert write(client, item(ADA, 1002, "SUBSCRIBED")).status_code == 200
    assert anon.post(ACTOR, json=_status(1001, "SUBSCRIBED")).status_code == 200
    statuses = _read(client)
    assert statuses[1001]["source"] == "SUBSCRIPTION_PREFERENCES_PAGE"
    assert statuses[1002]["source"] == "Public API"
    assert statuses[1001]["timestamp"] >= statuses[1002]["timestamp"]


def test_a_portal_wide_opt_out_changes_every_brand_and_reads_back_with_its_timestamp(
    anon: httpx.Client, client: httpx.Client
) -> None:
    """GIVEN a contact subscribed to 1001 (brand 0) and 2001 (brand 1) through the API
    WHEN the contact opts out of everything in HubSpot at LATER
    THEN every subscription reads UNSUBSCRIBED at LATER with the default source, and the wide read and
    the per-contact GET show one PORTAL_WIDE opt-out at LATER"""
    write(client, item(ADA, 1001, "SUBSCRIBED"), item(ADA, 2001, "SUBSCRIBED"))
    answer = anon.post(ACTOR, json={"email": ADA, "action": "unsubscribe_all", "timestamp": LATER})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert {r["subscriptionId"] for r in results} == {1001, 1002, 1003, 2001}
    assert {r["setStatusSuccessReason"] for r in results} == {"UNSUBSCRIBE_FROM_ALL_OCCURRED"}
    statuses = _read(client)
    assert {(s["status"], s["timestamp"], s["source"]) for s in statuses.values()} == {
        ("UNSUBSCRIBED", LATER, "SUBSCRIPTION_PREFERENCES_PAGE")
    }
    (wide,) = _wide(client)
    assert (wide["wideStatusType"], wide["timestamp"]) == ("PORTAL_WIDE", LATER)
    got = client.get(contact_path(ADA, "/unsubscribe-all"), params={"channel": "EMAIL"}).json()["results"]
    assert [(w["wideStatusType"], w["timestamp"]) for w in got] == [("PORTAL_WIDE", LATER)]


def test_a_brand_opt_out_changes_only_that_brand(anon: httpx.Client, client: httpx.Client) -> None:
    """GIVEN a contact subscribed to 1001 (brand 0) and 2001 (brand 1)
    WHEN a workflow opts the contact out of brand 1 at LATER
    THEN 2001 is UNSUBSCRIBED at LATER with the workflow's source, 1001 is untouched, and the one wide
    opt-out is BUSINESS_UNIT_WIDE for brand 1"""
    write(client, item(ADA, 1001, "SUBSCRIBED"), item(ADA, 2001, "SUBSCRIBED"))
    change = {"email": ADA, "action": "unsubscribe_all", "business_unit_id": 1, "timestamp": LATER}
    answer = anon.post(ACTOR, json={**change, "source": "AUTOMATION_WORKFLOW"})
    assert [r["subscriptionId"] for r in answer.json()["results"]] == [2001]
    statuses = _read(client)
    assert (statuses[2001]["status"], statuses[2001]["timestamp"]) == ("UNSUBSCRIBED", LATER)
    assert statuses[2001]["source"] == "AUTOMATION_WORKFLOW"
    assert (statuses[1001]["status"], statuses[1001]["source"]) == ("SUBSCRIBED", "Public API")
    (wide,) = _wide(client)
    assert (wide["wideStatusType"], wide["businessUnitId"], wide["timestamp"]) == (
        "BUSINESS_UNIT_WIDE",
        1,
        LATER,
    )


def test_a_resubscribe_in_hubspot_lifts_a_portal_wide_opt_out_for_its_brand_only(
    anon: httpx.Client, client: httpx.Client
) -> None:
    """GIVEN a contact opted out portal-wide at T1
    WHEN the contact subscribes to 1002 again at T2
    THEN the answer says RESUBSCRIBE_OCCURRED, 1002 reads SUBSCRIBED at T2, the others stay
    UNSUBSCRIBED at T1, and the opt-out is now brand 1's only (the store's resubscribe rule)"""
    anon.post(ACTOR, json={"email": ADA, "action": "unsubscribe_all", "timestamp": T1})
    answer = anon.post(ACTOR, json=_status(1002, "SUBSCRIBED", timestamp=T2))
    (result,) = answer.json()["results"]
    assert result["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    statuses = _read(client)
    assert (statuses[1002]["status"], statuses[1002]["timestamp"]) == ("SUBSCRIBED", T2)
    assert {(s["status"], s["timestamp"]) for n, s in statuses.items() if n != 1002} == {("UNSUBSCRIBED", T1)}
    assert [(w["wideStatusType"], w.get("businessUnitId")) for w in _wide(client)] == [
        ("BUSINESS_UNIT_WIDE", 1)
    ]
    assert [(w["wideStatusType"], w.get("businessUnitId")) for w in answer.json()["wide_statuses"]] == [
        ("BUSINESS_UNIT_WIDE", 1)
    ]


def test_an_actor_change_is_not_an_api_request_and_is_never_faulted(
    anon: httpx.Client, emu: Emulator
) -> None:
    """GIVEN every API request faulted with a 503 and a rate limit of one request
    WHEN three HubSpot-side changes are made
    THEN all three apply, and the request log, the counters and the fault script saw none of them"""
    emu.set_faults(Faults(script=("503",) * 5))
    emu.configure(rate_limit_max=1)
    for sub in (1001, 1002, 1003):
        assert anon.post(ACTOR, json=_status(sub, "SUBSCRIBED")).status_code == 200
    assert emu.request_log() == []
    assert emu.counters()["total"] == 0
    assert emu.remaining_script() == ["503"] * 5
    assert [s["status"] for s in emu.statuses(ADA)] == ["SUBSCRIBED"] * 3


def test_hubspots_clock_never_goes_back(anon: httpx.Client, emu: Emulator) -> None:
    """GIVEN 1001 changed in HubSpot at T2
    WHEN a change of 1001, or an opt-out covering it, is made at the older T1
    THEN both are refused with a 400 and 1001 stays as it was at T2"""
    anon.post(ACTOR, json=_status(1001, "SUBSCRIBED", timestamp=T2))
    older = anon.post(ACTOR, json=_status(1001, "UNSUBSCRIBED", timestamp=T1))
    wide = anon.post(ACTOR, json={"email": ADA, "action": "unsubscribe_all", "timestamp": T1})
    assert (older.status_code, wide.status_code) == (400, 400)
    assert "older" in older.json()["message"]
    stored = emu.status(ADA, 1001)
    assert stored is not None
    assert (stored["status"], stored["timestamp"]) == ("SUBSCRIBED", T2)
    assert emu.wide_statuses(ADA) == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": ADA, "action": "delete"},
        {"email": "not-an-email", "action": "unsubscribe_all"},
        {"email": ADA, "action": "status", "state": "SUBSCRIBED"},
        {"email": ADA, "action": "status", "subscription_id": 1001, "state": "NOT_SPECIFIED"},
        {"email": ADA, "action": "status", "subscription_id": 999999, "state": "SUBSCRIBED"},
        {"email": ADA, "action": "status", "subscription_id": "1001", "state": "SUBSCRIBED"},
        {"email": ADA, "action": "status", "subscription_id": 1001, "state": "SUBSCRIBED", "brand": 1},
        {"email": ADA, "action": "unsubscribe_all", "subscription_id": 1001},
        {"email": ADA, "action": "unsubscribe_all", "business_unit_id": 7},
        {"email": ADA, "action": "unsubscribe_all", "timestamp": "yesterday"},
        {"email": ADA, "action": "unsubscribe_all", "channel": "SMS"},
    ],
)
def test_a_malformed_change_is_a_400_and_changes_nothing(
    anon: httpx.Client, emu: Emulator, body: dict[str, Any]
) -> None:
    """GIVEN an empty portal
    WHEN a malformed HubSpot-side change is posted
    THEN it is a 400 in the Error shape and nothing is stored"""
    answer = anon.post(ACTOR, json=body)
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert emu.snapshot() == {"statuses": [], "wideStatuses": []}


def test_the_remote_client_makes_the_change_over_http_and_reports_a_refusal(emu: Emulator) -> None:
    """GIVEN a running emulator
    WHEN `act` posts a change, then an impossible one
    THEN the first answer is the route's and the store holds it; the second raises ValueError"""
    answer = act(emu.base_url, _status(1003, "UNSUBSCRIBED", timestamp=T1, source="CRM_UI"))
    assert answer["results"][0]["timestamp"] == T1
    assert emu.status(ADA, 1003) == {
        k: v for k, v in answer["results"][0].items() if k != "setStatusSuccessReason"
    }
    with pytest.raises(ValueError, match="400"):
        act(emu.base_url, _status(1003, "SUBSCRIBED", timestamp="2025-01-01T00:00:00Z"))


def test_the_in_process_method_takes_the_same_body(emu: Emulator) -> None:
    """GIVEN the emulator object
    WHEN `actor` is called with the route's body
    THEN the change is made exactly as over HTTP"""
    answer = emu.actor(_status(1001, "SUBSCRIBED", timestamp=T1))
    assert answer["results"][0]["timestamp"] == T1
    stored = emu.status(ADA, 1001)
    assert stored is not None
    assert (stored["status"], stored["timestamp"]) == ("SUBSCRIBED", T1)
