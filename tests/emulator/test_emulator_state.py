"""State over HTTP: unsubscribe-all (portal and brand, verbose or not), the resubscribe rule, and every
read route reflecting writes; plus definitions and link generation."""

from __future__ import annotations

import httpx
import pytest

from local.hubspot_emulator import Emulator
from tests.emulator.helpers import (
    DEFINITIONS,
    EMAIL_ONLY,
    ISO_MS,
    READ,
    UNSUBSCRIBE_ALL,
    UNSUBSCRIBE_ALL_READ,
    V4,
    V2026,
    assert_envelope,
    assert_public_status,
    assert_standard_error,
    assert_validation_error,
    contact_path,
    item,
    write,
)

BRAND_0 = {1001, 1002, 1003}


def _unsubscribe_all(client: httpx.Client, *emails: str, **params: object) -> httpx.Response:
    return client.post(UNSUBSCRIBE_ALL, params={"channel": "EMAIL", **params}, json={"inputs": list(emails)})


def _statuses(emu: Emulator, email: str) -> dict[int, str]:
    return {
        s["subscriptionId"]: s["status"]
        for s in emu.snapshot()["statuses"]
        if s["subscriberIdString"] == email
    }


def test_portal_wide_unsubscribe_all_verbose_reports_every_subscription(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a contact subscribed to one newsletter
    write(client, item("uma@example.com", 1001))
    # WHEN they are unsubscribed from everything, verbosely
    response = _unsubscribe_all(client, "Uma@example.com", verbose="true")
    # THEN every subscription of every brand is UNSUBSCRIBED with UNSUBSCRIBE_FROM_ALL_OCCURRED
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body)
    [result] = body["results"]
    assert result["subscriberIdString"] == "uma@example.com"
    assert {s["subscriptionId"] for s in result["statuses"]} == {1001, 1002, 1003, 2001}
    for status in result["statuses"]:
        assert_public_status(status, with_reason=True)
        assert (status["status"], status["setStatusSuccessReason"]) == (
            "UNSUBSCRIBED",
            "UNSUBSCRIBE_FROM_ALL_OCCURRED",
        )
    # AND one PORTAL_WIDE opt-out is recorded
    [wide] = emu.wide_statuses("uma@example.com")
    assert (wide["wideStatusType"], wide["status"], wide["channel"]) == (
        "PORTAL_WIDE",
        "UNSUBSCRIBED",
        "EMAIL",
    )
    assert "businessUnitId" not in wide
    assert ISO_MS.match(wide["timestamp"])


def test_unsubscribe_all_without_verbose_returns_empty_results(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a contact
    # WHEN unsubscribed from all without verbose
    response = _unsubscribe_all(client, "vic@example.com")
    # THEN results are empty but the state changed
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert set(_statuses(emu, "vic@example.com").values()) == {"UNSUBSCRIBED"}


def test_brand_wide_unsubscribe_all_touches_only_that_brand(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a contact subscribed in brand 0 and brand 1
    write(client, item("wes@example.com", 1001), item("wes@example.com", 2001))
    # WHEN unsubscribed from all of brand 1
    response = _unsubscribe_all(client, "wes@example.com", businessUnitId=1, verbose="true")
    # THEN only brand 1's subscription changed, and a BUSINESS_UNIT_WIDE opt-out for brand 1 exists
    assert [s["subscriptionId"] for s in response.json()["results"][0]["statuses"]] == [2001]
    assert _statuses(emu, "wes@example.com") == {1001: "SUBSCRIBED", 2001: "UNSUBSCRIBED"}
    [wide] = emu.wide_statuses("wes@example.com")
    assert (wide["wideStatusType"], wide["businessUnitId"]) == ("BUSINESS_UNIT_WIDE", 1)


def test_subscribing_under_a_brand_opt_out_lifts_it_for_that_brand_only(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a contact opted out of all of brand 0
    _unsubscribe_all(client, "xan@example.com", businessUnitId=0)
    # WHEN one brand-0 subscription is subscribed again
    result = write(client, item("xan@example.com", 1002)).json()["results"][0]
    # THEN it is a resubscribe, the brand opt-out is gone and the other subscriptions stay unsubscribed
    assert result["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    assert emu.wide_statuses("xan@example.com") == []
    assert _statuses(emu, "xan@example.com") == {
        1001: "UNSUBSCRIBED",
        1002: "SUBSCRIBED",
        1003: "UNSUBSCRIBED",
    }


def test_subscribing_under_a_portal_opt_out_keeps_it_for_the_other_brands(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a contact opted out portal-wide
    _unsubscribe_all(client, "yan@example.com")
    # WHEN a brand-0 subscription is subscribed again
    result = write(client, item("yan@example.com", 1001)).json()["results"][0]
    # THEN it is a resubscribe; the portal opt-out became a brand-1 opt-out
    assert result["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    wide = emu.wide_statuses("yan@example.com")
    assert [(w["wideStatusType"], w.get("businessUnitId")) for w in wide] == [("BUSINESS_UNIT_WIDE", 1)]
    # AND a brand-1 subscribe is again a resubscribe that clears the last opt-out
    again = write(client, item("yan@example.com", 2001)).json()["results"][0]
    assert again["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    assert emu.wide_statuses("yan@example.com") == []


def test_unsubscribing_under_a_wide_opt_out_is_no_change(client: httpx.Client) -> None:
    # GIVEN a contact opted out of everything
    _unsubscribe_all(client, "zed@example.com")
    # WHEN one subscription is explicitly unsubscribed
    result = write(client, item("zed@example.com", 1003, "UNSUBSCRIBED")).json()["results"][0]
    # THEN nothing changed
    assert result["setStatusSuccessReason"] == "NO_STATUS_CHANGE"


def test_unsubscribe_all_reports_an_invalid_email_per_item(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN one valid and one invalid email
    # WHEN both are unsubscribed from all
    response = _unsubscribe_all(client, "ok@example.com", "nope", verbose="true")
    # THEN the valid one is processed and the other is a per-item error
    assert response.status_code == 207
    body = response.json()
    assert [r["subscriberIdString"] for r in body["results"]] == ["ok@example.com"]
    assert_standard_error(body["errors"][0])
    assert body["errors"][0]["context"] == {"ids": ["nope"]}
    assert emu.wide_statuses("ok@example.com") != []


def test_batch_read_reflects_writes_per_email_and_brand(client: httpx.Client) -> None:
    # GIVEN writes in two brands for one contact and nothing for another
    write(client, item("ann@example.com", 1002, "UNSUBSCRIBED"), item("ann@example.com", 2001))
    # WHEN both contacts are read, then only brand 1
    everything = client.post(READ, params=EMAIL_ONLY, json={"inputs": ["ANN@example.com", "new@example.com"]})
    brand_1 = client.post(
        READ, params={**EMAIL_ONLY, "businessUnitId": 1}, json={"inputs": ["ann@example.com"]}
    )
    # THEN the statuses match the writes, without write-only fields, and the brand filter applies
    assert everything.status_code == 200
    body = everything.json()
    assert_envelope(body)
    ann, new = body["results"]
    assert ann["subscriberIdString"] == "ann@example.com"
    assert [(s["subscriptionId"], s["status"]) for s in ann["statuses"]] == [
        (1002, "UNSUBSCRIBED"),
        (2001, "SUBSCRIBED"),
    ]
    for status in ann["statuses"]:
        assert_public_status(status, with_reason=False)
    assert new == {"subscriberIdString": "new@example.com", "statuses": []}
    assert [s["subscriptionId"] for s in brand_1.json()["results"][0]["statuses"]] == [2001]


def test_batch_read_reports_invalid_emails_with_a_207(client: httpx.Client) -> None:
    # GIVEN one invalid email among the inputs
    # WHEN read
    response = client.post(READ, params=EMAIL_ONLY, json={"inputs": ["fine@example.com", "@@"]})
    # THEN it is a per-item error and the valid one is answered
    assert response.status_code == 207
    body = response.json()
    assert [r["subscriberIdString"] for r in body["results"]] == ["fine@example.com"]
    assert body["numErrors"] == 1


def test_unsubscribe_all_read_returns_wide_statuses(client: httpx.Client) -> None:
    # GIVEN one contact opted out of brand 1 and one not opted out
    _unsubscribe_all(client, "bea@example.com", businessUnitId=1)
    # WHEN both are read
    response = client.post(
        UNSUBSCRIBE_ALL_READ, params=EMAIL_ONLY, json={"inputs": ["bea@example.com", "c@d.io"]}
    )
    # THEN each email carries its wide statuses
    assert response.status_code == 200
    bea, other = response.json()["results"]
    assert [(w["wideStatusType"], w["businessUnitId"]) for w in bea["wideStatuses"]] == [
        ("BUSINESS_UNIT_WIDE", 1)
    ]
    assert other == {"subscriberIdString": "c@d.io", "wideStatuses": []}


def test_single_contact_routes_write_and_read(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a single-contact write (email in the path, URL-encoded)
    partial = {"subscriptionId": 1003, "channel": "EMAIL", "statusState": "SUBSCRIBED"}
    posted = client.post(contact_path("dan%40example.com"), json=partial)
    # WHEN the contact is read back
    fetched = client.get(contact_path("dan@example.com"), params=EMAIL_ONLY)
    # THEN both answers are envelopes holding the status
    assert posted.status_code == 200
    assert_envelope(posted.json())
    assert posted.json()["results"][0]["setStatusSuccessReason"] == "REQUESTED_CHANGE_OCCURRED"
    assert [(s["subscriptionId"], s["status"]) for s in fetched.json()["results"]] == [(1003, "SUBSCRIBED")]
    assert emu.status("dan@example.com", 1003)["status"] == "SUBSCRIBED"


def test_a_single_contact_write_with_a_bad_subscription_is_a_400(client: httpx.Client) -> None:
    # GIVEN a single-contact write for an unknown subscription
    partial = {"subscriptionId": 1, "channel": "EMAIL", "statusState": "SUBSCRIBED"}
    # WHEN posted
    response = client.post(contact_path("eve@example.com"), json=partial)
    # THEN the whole request fails (there is no per-item channel on this route)
    assert_validation_error(response, "INVALID_INPUT")


def test_single_contact_unsubscribe_all_and_its_read(client: httpx.Client) -> None:
    # GIVEN a contact never opted out
    before = client.get(contact_path("fay@example.com", "/unsubscribe-all"), params=EMAIL_ONLY)
    # WHEN opted out of all (verbose) and read again
    posted = client.post(
        contact_path("fay@example.com", "/unsubscribe-all"), params={**EMAIL_ONLY, "verbose": "true"}
    )
    after = client.get(contact_path("fay@example.com", "/unsubscribe-all"), params=EMAIL_ONLY)
    # THEN the read was empty before and shows the portal-wide opt-out after
    assert before.json()["results"] == []
    assert {s["subscriptionId"] for s in posted.json()["results"]} == BRAND_0 | {2001}
    assert [w["wideStatusType"] for w in after.json()["results"]] == ["PORTAL_WIDE"]


def test_a_path_email_that_is_not_an_email_is_a_400(client: httpx.Client) -> None:
    # WHEN a single-contact read names something that is not an email
    response = client.get(contact_path("not-an-email"), params=EMAIL_ONLY)
    # THEN it is rejected
    assert_validation_error(response, "INVALID_INPUT", "subscriberIdString")


def test_definitions_list_the_configured_subscriptions(client: httpx.Client) -> None:
    # WHEN definitions are read, all and for brand 1, on both path versions
    everything = client.get(DEFINITIONS)
    brand_1 = client.get(f"{V2026}/definitions", params={"businessUnitId": 1, "includeTranslations": "true"})
    # THEN ids are strings and the documented fields are present with their types
    assert everything.status_code == 200
    definitions = everything.json()["results"]
    assert [d["id"] for d in definitions] == ["1001", "1002", "1003", "2001"]
    for d in definitions:
        assert isinstance(d["name"], str)
        assert isinstance(d["description"], str)
        for flag in ("isActive", "isDefault", "isInternal"):
            assert isinstance(d[flag], bool)
        assert ISO_MS.match(d["createdAt"])
        assert ISO_MS.match(d["updatedAt"])
        assert isinstance(d["businessUnitId"], int)
    [brand_def] = brand_1.json()["results"]
    assert (brand_def["id"], brand_def["subscriptionTranslations"]) == ("2001", [])


@pytest.mark.parametrize("subscription_id", [None, 1002])
def test_links_generate_returns_preference_urls(client: httpx.Client, subscription_id: int | None) -> None:
    # GIVEN a link request with or without a subscription
    body: dict = {"subscriberIdString": "gus@example.com"}
    if subscription_id is not None:
        body["subscriptionId"] = subscription_id
    # WHEN posted
    response = client.post(f"{V4}/links/generate", params=EMAIL_ONLY, json=body)
    # THEN the URLs come back, the single-unsubscribe one only for a subscription
    assert response.status_code == 200
    links = response.json()
    assert links["subscriberIdString"] == "gus@example.com"
    assert links["managePreferencesUrl"].startswith("https://")
    assert links["unsubscribeAllUrl"].startswith("https://")
    assert ("unsubscribeSingleUrl" in links) is (subscription_id is not None)
