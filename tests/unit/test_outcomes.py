"""outcomes.map_batch_response: HubSpot's 200/207 bodies mapped back to the inputs that were sent."""

from __future__ import annotations

from typing import Any

import pytest
from status_writer.model import FailureCategory, ItemResult, StatusUpdate
from status_writer.outcomes import (
    PERMANENT_ITEM_CATEGORIES,
    item_failure,
    map_batch_response,
    unread_contacts,
)

from tests.unit.helpers import batch_body, result_for, standard_error, update, updates


def applied(results: list[ItemResult]) -> list[bool]:
    return [result.applied for result in results]


def permanent(results: list[ItemResult]) -> list[bool | None]:
    return [None if result.failure is None else result.failure.permanent for result in results]


def assert_unknown_retryable(result: ItemResult) -> None:
    assert result.failure is not None
    assert result.failure.category is FailureCategory.UNKNOWN_OUTCOME
    assert result.failure.permanent is False


@pytest.fixture
def sent() -> list[StatusUpdate]:
    """Three inputs: ada on two subscriptions, bob on one."""
    return [
        update("ada@example.com", 1001, message_id="m-0", position=0),
        update("ada@example.com", 2002, message_id="m-1", position=1),
        update("bob@example.com", 1001, message_id="m-2", position=2),
    ]


# --- results ----------------------------------------------------------------------------------------


def test_200_with_a_result_for_every_input_applies_them_all(sent: list[StatusUpdate]) -> None:
    # GIVEN a COMPLETE body with one result per input, in a different order
    body = batch_body(results=[result_for(item) for item in reversed(sent)])
    # WHEN mapped THEN every input is applied, in input order
    assert applied(map_batch_response(sent, body)) == [True, True, True]


def test_results_match_case_insensitively_and_on_a_string_subscription_id(sent: list[StatusUpdate]) -> None:
    body = batch_body(
        results=[
            result_for(sent[0], subscriberIdString="ADA@EXAMPLE.COM"),
            result_for(sent[1], subscriptionId="2002"),
        ]
    )
    assert applied(map_batch_response(sent, body)) == [True, True, False]


def test_missing_results_leave_those_inputs_unknown_and_retryable(sent: list[StatusUpdate]) -> None:
    # GIVEN a 200 that confirms only bob
    body = batch_body(results=[result_for(sent[2])])
    # WHEN mapped THEN the two ada inputs are not applied but retryable with an unknown outcome
    results = map_batch_response(sent, body)
    assert applied(results) == [False, False, True]
    assert_unknown_retryable(results[0])
    assert_unknown_retryable(results[1])


def test_a_result_for_another_subscription_of_the_same_email_does_not_apply_an_input(
    sent: list[StatusUpdate],
) -> None:
    body = batch_body(results=[result_for(sent[0])])  # ada/1001 only
    assert applied(map_batch_response(sent, body)) == [True, False, False]


def test_results_for_inputs_never_sent_are_ignored(sent: list[StatusUpdate]) -> None:
    # GIVEN results for strangers only (a different email, a different subscription)
    body = batch_body(
        results=[
            result_for(sent[0], subscriberIdString="eve@example.com"),
            result_for(sent[2], subscriptionId=9999),
        ]
    )
    # WHEN mapped THEN nothing is applied (all-fail case)
    results = map_batch_response(sent, body)
    assert applied(results) == [False, False, False]
    for result in results:
        assert_unknown_retryable(result)


@pytest.mark.parametrize(
    "results",
    [
        None,
        "garbage",
        42,
        {"subscriberIdString": "ada@example.com", "subscriptionId": 1001},
        [None, 1, "x", []],
        [{"subscriberIdString": "ada@example.com"}],  # truncated: no subscriptionId
        [{"subscriptionId": 1001}],
        [{"subscriberIdString": ["ada@example.com"], "subscriptionId": 1001}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": True}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": 1001.0}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": "10o1"}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": "١٠٠١"}],  # Arabic-Indic digits
        [{"subscriberIdString": "ada@example.com", "subscriptionId": "+1001"}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": "1_001"}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": "1" * 5000}],
        [{"subscriberIdString": "ada@example.com", "subscriptionId": None}],
    ],
)
def test_garbled_or_truncated_results_apply_nothing_and_never_raise(
    results: Any, sent: list[StatusUpdate]
) -> None:
    body = {"status": "COMPLETE", "results": results}
    mapped = map_batch_response(sent, body)
    assert applied(mapped) == [False, False, False]
    for result in mapped:
        assert_unknown_retryable(result)


def test_a_padded_or_zero_led_digit_string_still_names_the_subscription(sent: list[StatusUpdate]) -> None:
    body = batch_body(
        results=[result_for(sent[0], subscriptionId=" 1001 "), result_for(sent[1], subscriptionId="02002")]
    )
    assert applied(map_batch_response(sent, body)) == [True, True, False]


def test_a_good_result_among_garbage_still_counts(sent: list[StatusUpdate]) -> None:
    body = batch_body(results=[None, "junk", {"subscriptionId": "x"}, result_for(sent[1]), 7])
    assert applied(map_batch_response(sent, body)) == [False, True, False]


# --- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["PROCESSING", "PENDING", "CANCELED", "complete", None, 1])
def test_a_status_other_than_complete_applies_nothing_even_with_results(
    status: Any, sent: list[StatusUpdate]
) -> None:
    # GIVEN a body whose results cover everything but whose status is not COMPLETE
    body = batch_body(results=[result_for(item) for item in sent])
    body["status"] = status
    # WHEN mapped THEN every input is retryable, and the detail names the status
    results = map_batch_response(sent, body)
    assert applied(results) == [False, False, False]
    for result in results:
        assert_unknown_retryable(result)
        assert result.failure is not None
        assert str(status) in result.failure.detail


def test_a_body_without_status_applies_nothing(sent: list[StatusUpdate]) -> None:
    body = batch_body(results=[result_for(item) for item in sent])
    del body["status"]
    assert applied(map_batch_response(sent, body)) == [False, False, False]


@pytest.mark.parametrize("body", [None, "COMPLETE", 200, [], [{"status": "COMPLETE"}], b"{}"])
def test_a_body_that_is_not_an_object_makes_every_input_retryable(
    body: Any, sent: list[StatusUpdate]
) -> None:
    results = map_batch_response(sent, body)
    assert len(results) == len(sent)
    for result in results:
        assert_unknown_retryable(result)


def test_no_inputs_no_results() -> None:
    assert map_batch_response([], batch_body()) == []
    assert map_batch_response([], None) == []


# --- errors matched to inputs -----------------------------------------------------------------------


def test_207_error_matched_by_ids_fails_that_input_only(sent: list[StatusUpdate]) -> None:
    # GIVEN a 207 body: ada/1001 and ada/2002 applied; bob failed, named in context.ids with his subscription
    body = batch_body(
        results=[result_for(sent[0]), result_for(sent[1])],
        errors=[standard_error(context={"ids": ["bob@example.com"], "subscriptionId": ["1001"]})],
    )
    # WHEN mapped
    results = map_batch_response(sent, body)
    # THEN bob alone is a permanent per-item rejection carrying HubSpot's category and message
    assert applied(results) == [True, True, False]
    failure = results[2].failure
    assert failure is not None
    assert failure.category is FailureCategory.HUBSPOT_REJECTED_ITEM
    assert failure.permanent is True
    assert failure.detail == "VALIDATION_ERROR: Subscription does not exist"


@pytest.mark.parametrize("key", ["subscriberIdString", "emailAddress", "email", "anything"])
def test_error_matched_by_email_under_any_context_key(key: str, sent: list[StatusUpdate]) -> None:
    body = batch_body(
        results=[result_for(sent[0]), result_for(sent[1])],
        errors=[standard_error(context={key: ["Bob@Example.com"]})],
    )
    assert permanent(map_batch_response(sent, body)) == [None, None, True]


def test_error_context_with_a_plain_string_value_instead_of_a_list(sent: list[StatusUpdate]) -> None:
    body = batch_body(errors=[standard_error(context={"subscriberIdString": " bob@example.com "})])
    assert permanent(map_batch_response(sent, body)) == [False, False, True]


def test_error_naming_email_and_subscription_fails_only_that_pair(sent: list[StatusUpdate]) -> None:
    # GIVEN ada has two inputs; the error names ada and subscription 2002
    body = batch_body(
        results=[result_for(sent[0]), result_for(sent[2])],
        errors=[standard_error(context={"ids": ["ada@example.com"], "subscriptionId": ["2002"]})],
    )
    # THEN only ada/2002 fails
    assert permanent(map_batch_response(sent, body)) == [None, True, None]


def test_error_naming_an_email_only_fails_every_input_of_that_email(sent: list[StatusUpdate]) -> None:
    body = batch_body(
        results=[result_for(sent[2])], errors=[standard_error(context={"ids": ["ada@example.com"]})]
    )
    assert permanent(map_batch_response(sent, body)) == [True, True, None]


def test_error_matched_by_subscription_id_only(sent: list[StatusUpdate]) -> None:
    # GIVEN an error naming subscription 1001 and no email: "Subscription 1001 does not exist"
    body = batch_body(
        results=[result_for(sent[1])], errors=[standard_error(context={"subscriptionId": ["1001"]})]
    )
    # THEN every input for 1001 fails; ada/2002 stays applied
    assert permanent(map_batch_response(sent, body)) == [True, None, True]


def test_error_matched_by_an_integer_subscription_id_value(sent: list[StatusUpdate]) -> None:
    body = batch_body(
        results=[result_for(sent[0]), result_for(sent[2])], errors=[standard_error(context={"id": [2002]})]
    )
    assert permanent(map_batch_response(sent, body)) == [None, True, None]


def test_error_matched_through_nested_error_detail_context(sent: list[StatusUpdate]) -> None:
    # GIVEN the naming context sits only in the error's nested ErrorDetail list
    error = standard_error(
        category="INVALID_EMAIL",
        context={},
        errors=[
            {"message": "detail without context"},
            "not an object",
            {"message": "bad address", "context": {"subscriberIdString": ["bob@example.com"]}},
        ],
    )
    body = batch_body(results=[result_for(sent[0]), result_for(sent[1])], errors=[error])
    results = map_batch_response(sent, body)
    assert permanent(results) == [None, None, True]
    assert results[2].failure is not None
    assert results[2].failure.detail.startswith("INVALID_EMAIL:")


def test_error_naming_nothing_we_sent_leaves_inputs_unknown_and_retryable(sent: list[StatusUpdate]) -> None:
    # GIVEN an error whose context names no email and no subscription id of ours, and no results
    body = batch_body(
        errors=[
            standard_error(context={"ids": ["eve@example.com"]}),
            standard_error(context={"subscriptionId": ["424242"]}),
            standard_error(context={}),
            standard_error(context=None),
            standard_error(context=["bob@example.com"]),  # not a map: names nothing
        ]
    )
    # WHEN mapped THEN nothing is marked permanent; every input is retried as unknown (all-fail case)
    results = map_batch_response(sent, body)
    assert permanent(results) == [False, False, False]
    for result in results:
        assert_unknown_retryable(result)


def test_error_naming_another_contact_and_our_subscription_does_not_hit_our_inputs(
    sent: list[StatusUpdate],
) -> None:
    # GIVEN a permanent error about eve (never sent) on subscription 1001, which ada and bob also use
    body = batch_body(
        results=[result_for(sent[0]), result_for(sent[1])],
        errors=[standard_error(context={"ids": ["eve@example.com"], "subscriptionId": ["1001"]})],
    )
    # WHEN mapped THEN it is not pinned on every 1001 input: ada stays applied, bob stays unknown (retried)
    results = map_batch_response(sent, body)
    assert applied(results) == [True, True, False]
    assert_unknown_retryable(results[2])


@pytest.mark.parametrize(
    "context",
    [
        {"ids": ["²"]},
        {"ids": ["١٠٠١"]},
        {"ids": ["1" * 5000]},
        {"ids": ["99999999999999999999999"]},
        {"ids": [10**5000]},
        {"ids": [True, None, 1.5, {"nested": "bob@example.com"}, ["bob@example.com"]]},
        {"ids": [-1001]},
    ],
)
def test_odd_context_values_never_raise_and_match_nothing(
    context: dict[str, Any], sent: list[StatusUpdate]
) -> None:
    body = batch_body(results=[result_for(item) for item in sent], errors=[standard_error(context=context)])
    assert applied(map_batch_response(sent, body)) == [True, True, True]


@pytest.mark.parametrize(
    "errors", [None, "garbage", {"context": {"ids": ["bob@example.com"]}}, [None, 1, "x"]]
)
def test_garbled_errors_are_ignored(errors: Any, sent: list[StatusUpdate]) -> None:
    body = batch_body(results=[result_for(item) for item in sent])
    body["errors"] = errors
    assert applied(map_batch_response(sent, body)) == [True, True, True]


def test_a_result_confirming_the_write_wins_over_an_error_naming_the_same_key(
    sent: list[StatusUpdate],
) -> None:
    # GIVEN HubSpot shows bob's write applied in results, and an error also names him and his subscription
    body = batch_body(
        results=[result_for(item) for item in sent],
        errors=[standard_error(context={"ids": ["bob@example.com"], "subscriptionId": ["1001"]})],
    )
    # WHEN mapped THEN the confirmation wins: HubSpot holds the status that was sent
    assert applied(map_batch_response(sent, body)) == [True, True, True]


def test_a_confirmed_write_is_not_failed_by_the_contacts_other_write(sent: list[StatusUpdate]) -> None:
    # GIVEN ada/1001 confirmed, ada/2002 failed by an error naming only ada, bob unanswered
    body = batch_body(
        results=[result_for(sent[0])], errors=[standard_error(context={"ids": ["ada@example.com"]})]
    )
    # WHEN mapped THEN ada/1001 is applied, ada/2002 dead-letters, bob stays unknown (retried)
    results = map_batch_response(sent, body)
    assert applied(results) == [True, False, False]
    assert permanent(results) == [None, True, False]


def test_a_confirmed_write_is_not_failed_by_an_error_naming_only_its_subscription(
    sent: list[StatusUpdate],
) -> None:
    # GIVEN "Subscription 1001 ..." as an error, yet bob's write to 1001 confirmed in results
    body = batch_body(
        results=[result_for(sent[2])], errors=[standard_error(context={"subscriptionId": ["1001"]})]
    )
    # THEN bob is applied; ada/1001 (unconfirmed) fails; ada/2002 stays unknown
    assert permanent(map_batch_response(sent, body)) == [True, False, None]


def test_every_input_errored_and_none_confirmed_all_fail(sent: list[StatusUpdate]) -> None:
    # GIVEN errors naming every contact and no results (the all-fail case) THEN every input fails
    errors = [standard_error(context={"ids": [item.email]}) for item in sent]
    assert permanent(map_batch_response(sent, batch_body(errors=errors))) == [True, True, True]


def test_a_permanent_verdict_is_not_hidden_by_a_retryable_one_for_the_same_input(
    sent: list[StatusUpdate],
) -> None:
    name_bob = {"ids": ["bob@example.com"]}
    for errors in (
        [
            standard_error("INTERNAL_ERROR", context=name_bob),
            standard_error("VALIDATION_ERROR", context=name_bob),
        ],
        [
            standard_error("VALIDATION_ERROR", context=name_bob),
            standard_error("INTERNAL_ERROR", context=name_bob),
        ],
    ):
        results = map_batch_response(sent, batch_body(errors=errors))
        assert results[2].failure is not None
        assert results[2].failure.permanent is True
        assert results[2].failure.detail.startswith("VALIDATION_ERROR")


def test_all_inputs_failing_in_one_207(sent: list[StatusUpdate]) -> None:
    body = batch_body(
        errors=[
            standard_error("OBJECT_NOT_FOUND", context={"ids": ["ada@example.com"]}),
            standard_error("RATE_LIMITS", context={"ids": ["bob@example.com"]}),
        ]
    )
    results = map_batch_response(sent, body)
    assert applied(results) == [False, False, False]
    assert permanent(results) == [True, True, False]


def test_duplicate_inputs_in_one_call_share_the_answer() -> None:
    twice = [update(message_id="m-0", position=0), update(message_id="m-1", position=1)]
    assert applied(map_batch_response(twice, batch_body(results=[result_for(twice[0])]))) == [True, True]


def test_a_large_batch_maps_one_result_per_input_in_order() -> None:
    sent = updates(100)
    confirmed = sent[::2]
    results = map_batch_response(sent, batch_body(results=[result_for(item) for item in confirmed]))
    assert applied(results) == [index % 2 == 0 for index in range(100)]


# --- item_failure categories ------------------------------------------------------------------------


@pytest.mark.parametrize("category", sorted(PERMANENT_ITEM_CATEGORIES))
def test_validation_type_categories_are_permanent(category: str) -> None:
    failure = item_failure({"category": category, "message": "nope"})
    assert failure.permanent is True
    assert failure.category is FailureCategory.HUBSPOT_REJECTED_ITEM
    assert failure.detail == f"{category}: nope"


@pytest.mark.parametrize(
    "category", ["RATE_LIMITS", "INTERNAL_ERROR", "TIMEOUT", "validation_error", None, 5, ""]
)
def test_other_categories_are_retryable(category: Any) -> None:
    failure = item_failure({"category": category})
    assert failure.permanent is False
    assert failure.category is FailureCategory.UNKNOWN_OUTCOME


def test_item_failure_detail_defaults_and_is_bounded() -> None:
    assert item_failure({}).detail == "UNKNOWN: no message"
    assert len(item_failure({"category": "VALIDATION_ERROR", "message": "x" * 10_000}).detail) == 300


def test_an_unsubscribe_confirmed_in_results_wins_over_an_error_naming_the_contact() -> None:
    # GIVEN ada's unsubscribe-all in results, and an error that names her too
    from status_writer.outcomes import map_unsubscribe_response

    from tests.unit.test_unsubscribe_all import unsubscribe

    request = unsubscribe("ada@example.com", at="2026-01-05T10:00:00Z", message_id="u")
    body = {
        "status": "COMPLETE",
        "results": [{"subscriberIdString": "ada@example.com", "statuses": []}],
        "errors": [standard_error(context={"ids": ["ada@example.com"]})],
    }
    # WHEN mapped THEN it is applied
    assert applied(map_unsubscribe_response([request], body)) == [True]


def test_a_status_hubspot_already_held_is_applied_without_its_writers_stamp_or_source(
    sent: list[StatusUpdate],
) -> None:
    # GIVEN an answer where ada/1001 was set by this call and ada/2002 already held that state, set
    # in the UI earlier (NO_STATUS_CHANGE keeps the UI's timestamp and source)
    body = batch_body(
        [
            result_for(sent[0]),
            result_for(
                sent[1],
                setStatusSuccessReason="NO_STATUS_CHANGE",
                source="CRM_UI",
                timestamp="2026-01-04T09:00:00.000Z",
            ),
            result_for(sent[2]),
        ]
    )
    # WHEN mapped
    results = map_batch_response(sent, body)
    # THEN all three applied; the unchanged one carries neither stamp nor source: neither is the
    # function's, and taken as its own they would make the UI's changes look like the function's
    assert applied(results) == [True, True, True]
    assert results[1].stamps == ()
    assert results[1].source is None
    assert results[0].stamps
    assert results[0].source == "Public API"


# --- unread_contacts: a read answer's contacts that were not read ---------------------------------

READ_OF = ["ada@example.com", "bob@example.com"]


def read_answer(*errors: dict[str, Any], results: tuple[str, ...] = ("bob@example.com",)) -> dict[str, Any]:
    """A COMPLETE read answer with a result for each of ``results`` and the given errors."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": [{"subscriberIdString": email, "statuses": []} for email in results],
    }
    if errors:
        body["errors"] = list(errors)
    return body


def test_a_contact_named_by_a_retryable_error_is_not_read() -> None:
    # GIVEN per-contact mode's answer: bob read, ada's GET refused (429) and named by its error
    body = read_answer(
        {"category": "RATE_LIMITED", "message": "429", "context": {"ids": ["Ada@Example.com"]}}
    )
    # WHEN its contacts are judged THEN ada is unread, retryable, and bob is read
    unread = unread_contacts(body, READ_OF)
    assert list(unread) == ["ada@example.com"]
    assert unread["ada@example.com"].permanent is False
    assert unread["ada@example.com"].detail.startswith("RATE_LIMITED: 429")


def test_a_contact_named_by_a_permanent_error_or_absent_is_read_as_nothing_newer() -> None:
    # GIVEN an error that says HubSpot does not know ada, and no result for her
    body = read_answer(
        {"category": "OBJECT_NOT_FOUND", "message": "no such contact", "context": {"ids": [READ_OF[0]]}}
    )
    # THEN nobody is unread: ada has no newer state
    assert unread_contacts(body, READ_OF) == {}
    assert unread_contacts(read_answer(), READ_OF) == {}


def test_a_retryable_error_naming_nobody_leaves_every_contact_without_a_result_unread() -> None:
    # GIVEN an error whose context names no contact of the read (chaos's nameless errors)
    body = read_answer({"category": "INTERNAL_ERROR", "message": "try again"})
    # THEN the contact without a result cannot be taken as unknown to HubSpot; bob's result stands
    assert list(unread_contacts(body, READ_OF)) == ["ada@example.com"]


def test_every_contact_failing_its_read_is_unread() -> None:
    body = read_answer(
        *({"category": "UNKNOWN", "message": "504", "context": {"ids": [email]}} for email in READ_OF),
        results=(),
    )
    assert sorted(unread_contacts(body, READ_OF)) == READ_OF


def test_an_answer_without_errors_reads_every_contact() -> None:
    assert unread_contacts(read_answer(results=tuple(READ_OF)), READ_OF) == {}
    assert unread_contacts({"status": "COMPLETE", "errors": "not a list"}, READ_OF) == {}
    assert unread_contacts(None, READ_OF) == {}
