"""batch/write over real HTTP: 200 and 207 answers, per-item errors, reasons, duplicates, the twin path."""

from __future__ import annotations

import httpx
import pytest

from local.hubspot_emulator import Emulator
from tests.emulator.helpers import (
    V2026,
    assert_envelope,
    assert_public_status,
    assert_standard_error,
    item,
    write,
)


def test_all_valid_items_are_applied_with_200_and_one_result_each(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN two valid writes, one with a legal basis
    a = item(
        "Ada@Example.com", 1001, "SUBSCRIBED", legalBasis="CONSENT_WITH_NOTICE", legalBasisExplanation="form"
    )
    b = item("bob@example.com", 1002, "UNSUBSCRIBED")
    # WHEN they are written in one batch
    response = write(client, a, b)
    # THEN the answer is a COMPLETE 200 with one PublicStatus per input and no errors
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body)
    assert "errors" not in body
    assert "numErrors" not in body
    results = {(r["subscriberIdString"], r["subscriptionId"]): r for r in body["results"]}
    assert set(results) == {("ada@example.com", 1001), ("bob@example.com", 1002)}
    for result in body["results"]:
        assert_public_status(result, with_reason=True)
    ada = results[("ada@example.com", 1001)]
    assert (ada["status"], ada["subscriptionName"], ada["businessUnitId"]) == ("SUBSCRIBED", "Newsletter", 0)
    assert (ada["legalBasis"], ada["legalBasisExplanation"]) == ("CONSENT_WITH_NOTICE", "form")
    assert ada["setStatusSuccessReason"] == "REQUESTED_CHANGE_OCCURRED"
    assert "legalBasis" not in results[("bob@example.com", 1002)]
    # AND the state holds both, keyed by the lowercased email
    assert emu.status("ADA@example.com", 1001)["status"] == "SUBSCRIBED"
    assert emu.status("bob@example.com", 1002)["status"] == "UNSUBSCRIBED"


@pytest.mark.parametrize(
    ("bad_item", "message_part"),
    [
        (item("carol@example.com", 999_999), "does not exist"),
        (item("not-an-email", 1001), "Invalid email"),
    ],
    ids=["unknown-subscription", "invalid-email"],
)
def test_a_bad_item_is_a_207_standard_error_while_the_rest_is_applied(
    client: httpx.Client, emu: Emulator, bad_item: dict, message_part: str
) -> None:
    # GIVEN one good and one bad input
    good = item("dave@example.com", 1001)
    # WHEN they are written together
    response = write(client, good, bad_item)
    # THEN the answer is 207 with the good one in results and the bad one in errors
    assert response.status_code == 207
    body = response.json()
    assert_envelope(body)
    assert [r["subscriberIdString"] for r in body["results"]] == ["dave@example.com"]
    assert body["numErrors"] == 1
    [error] = body["errors"]
    assert_standard_error(error)
    assert message_part in error["message"]
    assert error["context"] == {
        "ids": [bad_item["subscriberIdString"]],
        "subscriptionId": [str(bad_item["subscriptionId"])],
    }
    # AND only the good input changed the state
    assert emu.status("dave@example.com", 1001) is not None
    assert emu.snapshot()["statuses"] == [emu.status("dave@example.com", 1001)]


def test_an_inactive_subscription_is_a_per_item_error(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a portal whose subscription 1003 is archived
    subs = [s.to_dict() for s in emu.config.subscriptions]
    for s in subs:
        s["is_active"] = s["id"] != 1003
    emu.configure(subscriptions=subs)
    # WHEN a write targets it
    response = write(client, item("erin@example.com", 1003))
    # THEN it is reported per item and not applied
    assert response.status_code == 207
    assert "not active" in response.json()["errors"][0]["message"]
    assert emu.status("erin@example.com", 1003) is None


def test_gdpr_portal_requires_legal_basis_and_explanation_per_item(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a GDPR-enabled portal
    emu.configure(gdpr_enabled=True)
    complete = item("f1@example.com", legalBasis="CONSENT_WITH_NOTICE", legalBasisExplanation="signup")
    no_basis = item("f2@example.com", legalBasisExplanation="signup")
    no_explanation = item("f3@example.com", legalBasis="CONSENT_WITH_NOTICE")
    # WHEN writes with and without a full legal basis arrive
    response = write(client, complete, no_basis, no_explanation)
    # THEN only the complete one is applied; the others are per-item errors naming legalBasis
    assert response.status_code == 207
    body = response.json()
    assert [r["subscriberIdString"] for r in body["results"]] == ["f1@example.com"]
    assert sorted(e["context"]["ids"][0] for e in body["errors"]) == ["f2@example.com", "f3@example.com"]
    assert all("legalBasis" in e["message"] for e in body["errors"])


def test_partial_failure_status_code_can_be_200(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a portal configured to answer partial failures with 200
    emu.configure(partial_status_code=200)
    # WHEN one item fails
    response = write(client, item("g@example.com"), item("g@example.com", 424242))
    # THEN the status is 200 but the errors are still in the body
    assert response.status_code == 200
    assert response.json()["numErrors"] == 1


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["subscriberIdString"], {"subscriberIdString": ["h@example.com"]}),
        (["emailAddress", "subscriptionId"], {"emailAddress": ["h@example.com"], "subscriptionId": ["777"]}),
        (["ids", "ids"], {"ids": ["h@example.com", "777"]}),
    ],
    ids=["email-only", "emailAddress", "one-shared-key"],
)
def test_error_context_keys_are_configurable(
    client: httpx.Client, emu: Emulator, keys: list[str], expected: dict
) -> None:
    # GIVEN a portal naming the failing input with other context keys
    emu.configure(error_context_keys=keys)
    # WHEN an item fails
    response = write(client, item("h@example.com", 777))
    # THEN the context uses exactly those keys
    assert response.json()["errors"][0]["context"] == expected


def test_reasons_follow_the_status_history(client: httpx.Client) -> None:
    # GIVEN a contact never written
    email = "ivy@example.com"
    # WHEN the same subscription is written through a sequence of states
    states = ["SUBSCRIBED", "SUBSCRIBED", "UNSUBSCRIBED", "SUBSCRIBED", "NOT_SPECIFIED", "NOT_SPECIFIED"]
    reasons = [
        write(client, item(email, 1002, s)).json()["results"][0]["setStatusSuccessReason"] for s in states
    ]
    # THEN each answer reports what happened relative to the previous state
    assert reasons == [
        "REQUESTED_CHANGE_OCCURRED",
        "NO_STATUS_CHANGE",
        "REQUESTED_CHANGE_OCCURRED",
        "RESUBSCRIBE_OCCURRED",
        "REQUESTED_CHANGE_OCCURRED",
        "NO_STATUS_CHANGE",
    ]


def test_a_no_change_write_keeps_the_original_timestamp(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a stored status
    first = write(client, item("jay@example.com")).json()["results"][0]
    # WHEN the same status is written again
    again = write(client, item("jay@example.com")).json()["results"][0]
    # THEN nothing changed, including the timestamp
    assert again["setStatusSuccessReason"] == "NO_STATUS_CHANGE"
    assert again["timestamp"] == first["timestamp"] == emu.status("jay@example.com", 1001)["timestamp"]


def test_duplicates_in_one_batch_are_processed_in_order_and_the_last_wins(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN the same key three times in one batch
    batch = [item("kim@example.com", 1001, s) for s in ("SUBSCRIBED", "UNSUBSCRIBED", "SUBSCRIBED")]
    # WHEN it is written
    body = write(client, *batch).json()
    # THEN there is one result per input, each relative to the one before, and the last state is kept
    assert [r["status"] for r in body["results"]] == ["SUBSCRIBED", "UNSUBSCRIBED", "SUBSCRIBED"]
    assert [r["setStatusSuccessReason"] for r in body["results"]] == [
        "REQUESTED_CHANGE_OCCURRED",
        "REQUESTED_CHANGE_OCCURRED",
        "RESUBSCRIBE_OCCURRED",
    ]
    assert emu.status("kim@example.com", 1001)["status"] == "SUBSCRIBED"


def test_the_2026_03_path_is_the_same_operation(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the date-versioned twin path
    # WHEN a write goes through it
    response = write(client, item("lee@example.com", 2001), path=f"{V2026}/statuses/batch/write")
    # THEN it is applied like a v4 write (subscription 2001 belongs to brand 1)
    assert response.status_code == 200
    assert response.json()["results"][0]["businessUnitId"] == 1
    assert emu.status("lee@example.com", 2001)["status"] == "SUBSCRIBED"
    assert emu.counters()["by_route"]["statuses/batch/write"] == {"200": 1}


def test_a_full_batch_at_the_limit_is_accepted(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN exactly batch_limit (100) inputs
    batch = [item(f"m{i}@example.com", 1001 + i % 3) for i in range(100)]
    # WHEN written
    response = write(client, *batch)
    # THEN all 100 are applied
    assert response.status_code == 200
    assert len(response.json()["results"]) == 100
    assert len(emu.snapshot()["statuses"]) == 100
