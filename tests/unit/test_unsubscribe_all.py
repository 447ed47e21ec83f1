"""Unsubscribe-from-all: parsing, ordering against status writes, and mapping HubSpot's answer."""

from __future__ import annotations

from typing import Any

import pytest
from status_writer.coalesce import coalesce
from status_writer.model import Rejected, StatusUpdate, UnsubscribeAll
from status_writer.outcomes import map_unsubscribe_response
from status_writer.parse import parse_message
from status_writer.plan import Plan, build_plan

from tests.factories import status_body, unsubscribe_all_body
from tests.unit.helpers import message


def parse(body: dict[str, Any] | str, message_id: str = "m-0", position: int = 0) -> Any:
    return parse_message(message(body, message_id=message_id, position=position))


def unsubscribe(
    email: str = "ada@example.com", business_unit_id: int | None = None, *, at: str, message_id: str
) -> UnsubscribeAll:
    parsed = parse(unsubscribe_all_body(email, business_unit_id, occurredAt=at), message_id)
    assert isinstance(parsed, UnsubscribeAll), parsed
    return parsed


def write(email: str = "ada@example.com", sub: int = 1001, *, at: str, message_id: str) -> StatusUpdate:
    parsed = parse(status_body(email, sub, occurredAt=at), message_id)
    assert isinstance(parsed, StatusUpdate), parsed
    return parsed


# --- parse -------------------------------------------------------------------------------------------


def test_an_unsubscribe_all_body_parses_with_its_brand() -> None:
    parsed = parse(unsubscribe_all_body("Ada@Example.com", 3, occurredAt="2026-01-05T10:00:00Z"))
    assert isinstance(parsed, UnsubscribeAll)
    assert (parsed.email, parsed.channel, parsed.business_unit_id) == ("Ada@Example.com", "EMAIL", 3)
    assert parsed.key == ("ada@example.com", "EMAIL", 3)


def test_without_a_brand_it_is_portal_wide() -> None:
    parsed = parse({"action": "UNSUBSCRIBE_ALL", "subscriberIdString": "ada@example.com"})
    assert isinstance(parsed, UnsubscribeAll)
    assert parsed.business_unit_id is None
    assert parsed.channel == "EMAIL"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"action": "UNSUBSCRIBE", "subscriberIdString": "ada@example.com"},
            "action must be UNSUBSCRIBE_ALL",
        ),
        ({"action": "UNSUBSCRIBE_ALL"}, "missing required field(s): subscriberIdString"),
        ({"action": "UNSUBSCRIBE_ALL", "subscriberIdString": "nope"}, "not a valid email"),
        (unsubscribe_all_body(subscriptionId=1001), "unknown field(s) for UNSUBSCRIBE_ALL: subscriptionId"),
        (unsubscribe_all_body(businessUnitId=-1), "businessUnitId must be a non-negative"),
        (unsubscribe_all_body(businessUnitId=True), "businessUnitId must be a non-negative"),
        (unsubscribe_all_body(channel="SMS"), "channel must be one of EMAIL"),
    ],
)
def test_bad_unsubscribe_all_bodies_are_rejected_with_a_reason(body: dict[str, Any], reason: str) -> None:
    parsed = parse(body)
    assert isinstance(parsed, Rejected)
    assert reason in parsed.reason


def test_a_status_update_without_action_is_unchanged() -> None:
    assert isinstance(parse(status_body()), StatusUpdate)
    assert isinstance(parse({**status_body(), "action": None}), StatusUpdate)


def test_duplicate_unsubscribes_coalesce_per_email_channel_and_brand() -> None:
    a = unsubscribe("ada@example.com", at="2026-01-05T10:00:00Z", message_id="u1")
    b = unsubscribe("ADA@example.com", at="2026-01-05T11:00:00Z", message_id="u2")
    c = unsubscribe("ada@example.com", 1, at="2026-01-05T09:00:00Z", message_id="u3")
    plan = coalesce([a, b, c])
    assert [w.message.message_id for w in plan.winners] == ["u2", "u3"]
    assert plan.superseded_by == {"u1": "u2"}


# --- order (the ordering plan without a ledger: an empty history) -----------------------------------


def sent_in_steps(plan: Plan) -> list[list[str]]:
    """Message ids per step, oldest step first."""
    return [
        [u.message.message_id for u in step.plain]
        + [p.update.message.message_id for p in step.items if p.update is not None]
        for step in plan.steps
    ]


def test_a_write_older_than_a_portal_wide_unsubscribe_is_superseded() -> None:
    older = write(at="2026-01-05T09:00:00Z", message_id="w")
    opt_out = unsubscribe(at="2026-01-05T10:00:00Z", message_id="u")
    plan = build_plan({}, [opt_out, older])
    assert plan.superseded == {"w": "u"}
    assert sent_in_steps(plan) == [["u"]]


def test_a_write_newer_than_the_unsubscribe_goes_after_it() -> None:
    resubscribe = write(at="2026-01-05T11:00:00Z", message_id="w")
    opt_out = unsubscribe(at="2026-01-05T10:00:00Z", message_id="u")
    plan = build_plan({}, [opt_out, resubscribe])
    assert sent_in_steps(plan) == [["u"], ["w"]]
    assert [step.opt_outs for step in plan.steps] == [True, False]


def test_a_write_older_than_a_brand_wide_unsubscribe_goes_before_it() -> None:
    older = write(at="2026-01-05T09:00:00Z", message_id="w")
    opt_out = unsubscribe(business_unit_id=1, at="2026-01-05T10:00:00Z", message_id="u")
    plan = build_plan({}, [opt_out, older])
    assert sent_in_steps(plan) == [["w"], ["u"]]
    assert plan.superseded == {}


def test_writes_of_other_contacts_are_not_ordered() -> None:
    other = write("bob@example.com", at="2026-01-05T09:00:00Z", message_id="w")
    opt_out = unsubscribe("ada@example.com", at="2026-01-05T10:00:00Z", message_id="u")
    plan = build_plan({}, [opt_out, other])
    assert sent_in_steps(plan)[0] == ["w"]


def test_a_write_between_two_brand_unsubscribes_goes_between_them() -> None:
    # GIVEN brand 1 opted out before the write and brand 2 after it
    before = unsubscribe(business_unit_id=1, at="2026-01-05T09:00:00Z", message_id="u1")
    between = write(at="2026-01-05T10:00:00Z", message_id="w")
    after = unsubscribe(business_unit_id=2, at="2026-01-05T11:00:00Z", message_id="u2")
    # THEN it is sent in version order: after the older opt-out, before the newer one
    plan = build_plan({}, [before, after, between])
    assert sent_in_steps(plan) == [["u1"], ["w"], ["u2"]]


# --- outcomes ----------------------------------------------------------------------------------------


def test_unsubscribe_answer_maps_results_errors_and_silence() -> None:
    requests = [
        unsubscribe(email, at="2026-01-05T10:00:00Z", message_id=f"u{n}")
        for n, email in enumerate(["Ada@example.com", "bob@example.com", "cy@example.com"])
    ]
    body = {
        "status": "COMPLETE",
        "results": [{"subscriberIdString": "ada@example.com", "statuses": []}],
        "errors": [
            {
                "category": "VALIDATION_ERROR",
                "message": "Invalid email",
                "context": {"ids": ["bob@example.com"]},
            }
        ],
    }
    ada, bob, cy = map_unsubscribe_response(requests, body)
    assert ada.applied
    assert bob.failure is not None
    assert bob.failure.permanent
    assert cy.failure is not None
    assert not cy.failure.permanent


@pytest.mark.parametrize(
    "body", [None, [], {"status": "PROCESSING", "results": [{"subscriberIdString": "ada@example.com"}]}]
)
def test_an_unsubscribe_answer_that_is_not_complete_applies_nothing(body: Any) -> None:
    request = unsubscribe(at="2026-01-05T10:00:00Z", message_id="u")
    (result,) = map_unsubscribe_response([request], body)
    assert result.failure is not None
    assert not result.failure.permanent


def test_an_unsubscribe_answer_keeps_only_the_stamps_of_statuses_it_changed() -> None:
    # GIVEN ada's verbose answer: 1001 unsubscribed by this call, 1002 already unsubscribed in the UI
    request = unsubscribe(at="2026-01-05T10:00:00Z", message_id="u")
    changed = {"subscriptionId": 1001, "status": "UNSUBSCRIBED", "timestamp": "2026-01-05T10:00:01.000Z"}
    kept = {
        "subscriptionId": 1002,
        "status": "UNSUBSCRIBED",
        "timestamp": "2026-01-04T08:00:00.000Z",
        "source": "CRM_UI",
        "setStatusSuccessReason": "NO_STATUS_CHANGE",
    }
    body = {
        "status": "COMPLETE",
        "results": [{"subscriberIdString": "ada@example.com", "statuses": [changed, kept]}],
    }
    # WHEN mapped THEN it applied, with the stamp of the status it set only (the UI's is not its own)
    (result,) = map_unsubscribe_response([request], body)
    assert result.applied
    assert result.stamps == (1_767_607_201_000_000,)
