"""parse: the message contract, field by field, envelopes, garbage, and the record → Message step."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from status_writer.fields import (
    INT64_MAX,
    LEGAL_BASES,
    MAX_EMAIL_LENGTH,
    MAX_EXPLANATION_LENGTH,
    MAX_LOCAL_PART,
    STATUS_STATES,
)
from status_writer.model import Message, Rejected, StatusUpdate
from status_writer.parse import message_from_record, parse_message

from tests.factories import sqs_record, status_body
from tests.unit.helpers import SENT_MS, message


def parse(body: dict[str, Any] | str) -> StatusUpdate | Rejected:
    return parse_message(message(body, message_id="m-parse"))


def accepted(body: dict[str, Any] | str) -> StatusUpdate:
    result = parse(body)
    assert isinstance(result, StatusUpdate), result
    return result


def rejected(body: dict[str, Any] | str) -> str:
    result = parse(body)
    assert isinstance(result, Rejected), result
    assert result.message.message_id == "m-parse"
    return result.reason


def epoch_us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


# --- a valid body -----------------------------------------------------------------------------------


def test_minimal_valid_body_becomes_a_status_update_with_defaults() -> None:
    # GIVEN a body with only the three required fields
    # WHEN it is parsed
    result = accepted(status_body("Ada@Example.com", 1001, "UNSUBSCRIBED"))
    # THEN every field is carried over and the optional ones take their defaults
    assert result.email == "Ada@Example.com"
    assert result.subscription_id == 1001
    assert result.status_state == "UNSUBSCRIBED"
    assert result.channel == "EMAIL"
    assert result.legal_basis is None
    assert result.legal_basis_explanation is None
    assert result.occurred_at_us is None
    assert result.message.message_id == "m-parse"


def test_full_body_keeps_every_optional_field() -> None:
    # GIVEN a body with every optional field set
    body = status_body(
        channel="EMAIL",
        legalBasis="CONSENT_WITH_NOTICE",
        legalBasisExplanation="Opted in via signup form",
        occurredAt="2026-01-05T10:00:00Z",
    )
    # WHEN it is parsed
    result = accepted(body)
    # THEN they are all kept
    assert result.channel == "EMAIL"
    assert result.legal_basis == "CONSENT_WITH_NOTICE"
    assert result.legal_basis_explanation == "Opted in via signup form"
    assert result.occurred_at_us == epoch_us(datetime(2026, 1, 5, 10, tzinfo=UTC))


def test_to_input_uses_hubspot_field_names_and_omits_absent_optionals() -> None:
    # GIVEN one update without and one with a legal basis
    plain = accepted(status_body("a@example.com", "77", "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z"))
    with_basis = accepted(
        status_body(legalBasis="NON_GDPR", legalBasisExplanation="customer request", channel="EMAIL")
    )
    # WHEN they become batch/write inputs
    # THEN the keys are HubSpot's PublicStatusRequest names; occurredAt never goes to HubSpot
    assert plain.to_input() == {
        "subscriberIdString": "a@example.com",
        "subscriptionId": 77,
        "channel": "EMAIL",
        "statusState": "SUBSCRIBED",
    }
    assert with_basis.to_input() == {
        "subscriberIdString": "ada@example.com",
        "subscriptionId": 1001,
        "channel": "EMAIL",
        "statusState": "SUBSCRIBED",
        "legalBasis": "NON_GDPR",
        "legalBasisExplanation": "customer request",
    }
    json.dumps(with_basis.to_input())  # serialisable as-is


# --- subscriberIdString -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.com",
        "ADA.LOVELACE@EXAMPLE.CO.UK",
        "first.last+tag@sub.example.org",
        "o'brien@example.ie",
        "x@a-b.example",
        "a" * MAX_LOCAL_PART + "@example.com",
    ],
)
def test_valid_email_addresses_are_accepted(email: str) -> None:
    # GIVEN a syntactically valid address WHEN parsed THEN it is kept exactly as sent
    assert accepted(status_body(email)).email == email


@pytest.mark.parametrize(
    "email",
    [
        "",
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@@example.com",
        "ada@example",
        "ada@example.",
        "ada@-example.com",
        ".ada@example.com",
        "ada.@example.com",
        "ada..lovelace@example.com",
        "ada lovelace@example.com",
        " ada@example.com",
        "ada@example.com ",
        "adä@example.com",
        "ada@exämple.com",
        "a" * (MAX_LOCAL_PART + 1) + "@example.com",
    ],
)
def test_invalid_email_syntax_is_rejected(email: str) -> None:
    # GIVEN a malformed address WHEN parsed THEN it is rejected as not an email address
    assert "subscriberIdString is not a valid email address" in rejected(status_body(email))


def test_email_longer_than_254_characters_is_rejected_with_the_limit_named() -> None:
    # GIVEN an address with a valid shape but 255 characters (labels stay within 63)
    domain = ".".join(["d" * 60] * 4) + ".com"  # 248 characters
    email = "a" * (MAX_EMAIL_LENGTH + 1 - len(domain) - 1) + "@" + domain
    assert len(email) == MAX_EMAIL_LENGTH + 1
    # WHEN parsed THEN the reason names the length limit
    assert f"longer than {MAX_EMAIL_LENGTH}" in rejected(status_body(email))
    # AND one character less is fine
    assert accepted(status_body(email[1:])).email == email[1:]


@pytest.mark.parametrize("control", ["\x00", "\n", "\r", "\t", "\x1f", "\x7f"])
def test_email_with_control_characters_is_rejected(control: str) -> None:
    # GIVEN an address with a control character inside WHEN parsed THEN the reason says so
    assert "control characters" in rejected(status_body(f"ada{control}@example.com"))


@pytest.mark.parametrize("value", [None, 42, ["ada@example.com"], {"email": "ada@example.com"}, True])
def test_email_that_is_not_a_string_is_rejected(value: Any) -> None:
    assert "subscriberIdString must be a string" in rejected(status_body(value))


# --- subscriptionId ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1001, 1001),
        ("1001", 1001),
        ("0001001", 1001),
        (1, 1),
        (INT64_MAX, INT64_MAX),
        (str(INT64_MAX), INT64_MAX),
    ],
)
def test_subscription_id_accepts_integers_and_digit_strings(value: int | str, expected: int) -> None:
    # GIVEN an integer or a string of ASCII digits WHEN parsed THEN it becomes that integer
    result = accepted(status_body(subscription_id=value))
    assert result.subscription_id == expected
    assert type(result.subscription_id) is int


@pytest.mark.parametrize("value", [True, False])
def test_subscription_id_boolean_is_rejected(value: bool) -> None:
    assert "not a boolean" in rejected(status_body(subscription_id=value))


@pytest.mark.parametrize("value", [0, -1, -1001, "0", INT64_MAX + 1, str(INT64_MAX + 1), 2**100])
def test_subscription_id_out_of_the_positive_int64_range_is_rejected(value: int | str) -> None:
    assert "positive 64-bit integer" in rejected(status_body(subscription_id=value))


@pytest.mark.parametrize(
    "value",
    [
        1001.0,
        1001.5,
        "1001.0",
        "-1",
        "+1001",
        " 1001",
        "1e3",
        "",
        "abc",
        "١٠٠١",
        "²",
        None,
        [1001],
        {"id": 1},
    ],
)
def test_subscription_id_that_is_not_an_integer_is_rejected(value: Any) -> None:
    # GIVEN a float, a signed/padded/non-ASCII digit string or another type WHEN parsed THEN rejected
    assert "subscriptionId must be an integer" in rejected(status_body(subscription_id=value))


def test_subscription_id_with_more_than_nineteen_digits_is_rejected() -> None:
    assert "subscriptionId" in rejected(status_body(subscription_id="1" * 20))


# --- enums ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(STATUS_STATES))
def test_every_status_state_is_accepted(state: str) -> None:
    assert accepted(status_body(state=state)).status_state == state


@pytest.mark.parametrize("state", ["subscribed", "OPTED_IN", "", " SUBSCRIBED", None, 1, ["SUBSCRIBED"]])
def test_other_status_states_are_rejected_with_the_allowed_values_listed(state: Any) -> None:
    reason = rejected(status_body(state=state))
    assert reason.startswith("statusState must be one of NOT_SPECIFIED, SUBSCRIBED, UNSUBSCRIBED")


@pytest.mark.parametrize("basis", sorted(LEGAL_BASES))
def test_every_legal_basis_is_accepted(basis: str) -> None:
    assert accepted(status_body(legalBasis=basis)).legal_basis == basis


@pytest.mark.parametrize("basis", ["consent_with_notice", "GDPR", "", 3])
def test_other_legal_bases_are_rejected(basis: Any) -> None:
    assert rejected(status_body(legalBasis=basis)).startswith("legalBasis must be one of CONSENT_WITH_NOTICE")


def test_null_legal_basis_counts_as_absent() -> None:
    assert accepted(status_body(legalBasis=None)).legal_basis is None


@pytest.mark.parametrize("channel", ["SMS", "WHATSAPP", "email", "", 0])
def test_channels_other_than_email_are_rejected(channel: Any) -> None:
    assert rejected(status_body(channel=channel)).startswith("channel must be one of EMAIL")


def test_channel_defaults_to_email_when_absent_or_null() -> None:
    # GIVEN bodies without a channel and with an explicit null (like the other optional fields)
    # WHEN parsed THEN the channel is EMAIL
    assert accepted(status_body()).channel == "EMAIL"
    assert accepted(status_body(channel=None)).channel == "EMAIL"


def test_enum_reason_shows_a_long_value_truncated_and_a_container_by_type() -> None:
    assert len(rejected(status_body(state="X" * 5000))) < 200
    assert rejected({**status_body(), "statusState": {"a": 1}}).endswith("got dict")


# --- legalBasisExplanation --------------------------------------------------------------------------


def test_explanation_up_to_the_limit_is_accepted_and_one_more_is_rejected() -> None:
    text = "é" * MAX_EXPLANATION_LENGTH
    assert accepted(status_body(legalBasisExplanation=text)).legal_basis_explanation == text
    reason = rejected(status_body(legalBasisExplanation=text + "x"))
    assert f"longer than {MAX_EXPLANATION_LENGTH}" in reason


@pytest.mark.parametrize("control", ["\x00", "\n", "\x1b", "\x7f"])
def test_explanation_with_control_characters_is_rejected(control: str) -> None:
    assert "legalBasisExplanation contains control characters" in rejected(
        status_body(legalBasisExplanation=f"line one{control}line two")
    )


@pytest.mark.parametrize("value", [12, ["a"], {"a": "b"}, True])
def test_explanation_that_is_not_a_string_is_rejected(value: Any) -> None:
    assert "legalBasisExplanation must be a string" in rejected(status_body(legalBasisExplanation=value))


def test_null_explanation_counts_as_absent() -> None:
    assert accepted(status_body(legalBasisExplanation=None)).legal_basis_explanation is None


# --- occurredAt -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-01-05T10:00:00Z", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T10:00:00.123456Z", datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-05T12:00:00+02:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T05:00:00-05:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T10:00:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),  # naive: taken as UTC
        ("2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC)),  # the earliest believable
        ("2026-01-06T10:00:00Z", datetime(2026, 1, 6, 10, tzinfo=UTC)),  # a day past SentTimestamp
        ("2026-01-05 10:00Z", datetime(2026, 1, 5, 10, tzinfo=UTC)),  # space separator, no seconds
    ],
)
def test_occurred_at_becomes_utc_microseconds(value: str, moment: datetime) -> None:
    # GIVEN an ISO-8601 time with Z, an offset or none WHEN parsed THEN it is microseconds since the epoch, UTC
    assert accepted(status_body(occurredAt=value)).occurred_at_us == epoch_us(moment)


def test_occurred_at_with_offset_and_its_utc_twin_compare_equal() -> None:
    east = accepted(status_body(occurredAt="2026-01-05T02:30:00+05:30")).occurred_at_us
    utc = accepted(status_body(occurredAt="2026-01-04T21:00:00Z")).occurred_at_us
    assert east == utc


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "2026-13-01T00:00:00Z",
        "2026-01-05T25:00:00Z",
        "",
        "yesterday",
        "2026-01-05T10:00:00Z" + " " * 30,
    ],
)
def test_garbage_occurred_at_is_rejected(value: str) -> None:
    assert "occurredAt" in rejected(status_body(occurredAt=value))


@pytest.mark.parametrize("value", [1767607200, 1767607200.5, True, ["2026-01-05"], {"t": 1}])
def test_occurred_at_that_is_not_a_string_is_rejected(value: Any) -> None:
    assert "occurredAt must be an ISO-8601 date-time string" in rejected(status_body(occurredAt=value))


def test_null_occurred_at_counts_as_absent() -> None:
    assert accepted(status_body(occurredAt=None)).occurred_at_us is None


# --- unknown and missing fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "meant"),
    [
        ("status", "statusState"),
        ("email", "subscriberIdString"),
        ("subscription_id", "subscriptionId"),
        ("timestamp", "occurredAt"),
        ("legal_basis", "legalBasis"),
    ],
)
def test_unknown_field_with_a_known_misspelling_gets_a_did_you_mean_hint(field: str, meant: str) -> None:
    reason = rejected({**status_body(), field: "x"})
    assert reason == f"unknown field(s): {field} (did you mean {meant}?)"


def test_all_unknown_fields_are_listed_sorted_with_hints_where_known() -> None:
    reason = rejected({**status_body(), "zeta": 1, "email": "a@b.co", "alpha": 2})
    assert reason == "unknown field(s): alpha, email (did you mean subscriberIdString?), zeta"


def test_missing_required_fields_are_all_named() -> None:
    assert rejected({"statusState": "SUBSCRIBED"}) == (
        "missing required field(s): subscriberIdString, subscriptionId"
    )
    assert rejected({}) == "missing required field(s): subscriberIdString, subscriptionId, statusState"


# --- envelopes --------------------------------------------------------------------------------------


def sns(inner: Any) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:updates",
        "Message": inner if isinstance(inner, str) else json.dumps(inner),
        "Timestamp": "2026-01-05T10:00:00.000Z",
    }


def eventbridge(inner: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "eb-1",
        "detail-type": "SubscriptionStatusChanged",
        "source": "crm.app",
        "time": "2026-01-05T10:00:00Z",
        "detail": inner,
    }


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(sns, id="sns"),
        pytest.param(eventbridge, id="eventbridge"),
        pytest.param(lambda body: sns(eventbridge(body)), id="eventbridge-in-sns"),
        pytest.param(lambda body: eventbridge(sns(body)), id="sns-in-eventbridge"),
        pytest.param(lambda body: sns(sns(body)), id="sns-in-sns"),
    ],
)
def test_wrapped_bodies_are_unwrapped(wrap: Any) -> None:
    # GIVEN a valid body inside one or two envelopes WHEN parsed THEN the inner body is what counts
    result = accepted(wrap(status_body("grace@example.com", 55, "UNSUBSCRIBED")))
    assert (result.email, result.subscription_id, result.status_state) == (
        "grace@example.com",
        55,
        "UNSUBSCRIBED",
    )


def test_eventbridge_envelope_with_only_source_is_unwrapped() -> None:
    assert accepted({"source": "crm.app", "detail": status_body()}).subscription_id == 1001


def test_wrapped_invalid_body_is_rejected_for_the_inner_problem() -> None:
    assert "subscriptionId" in rejected(sns(status_body(subscription_id="abc")))
    assert rejected(sns("")) == "body is empty"
    assert "not valid JSON" in rejected(sns("{nope"))
    assert "must be a JSON object, not list" in rejected(eventbridge([1, 2]))


def test_wrapping_deeper_than_the_limit_is_rejected_not_unwrapped_forever() -> None:
    # GIVEN a body inside four SNS envelopes WHEN parsed THEN the fourth is treated as the body (unknown fields)
    body: Any = status_body()
    for _ in range(4):
        body = sns(body)
    assert rejected(body).startswith("unknown field(s):")


def test_sns_envelope_whose_message_is_not_a_string_is_not_unwrapped() -> None:
    assert rejected({"Type": "Notification", "Message": status_body()}).startswith("unknown field(s):")


# --- garbage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "body is empty"),
        ("   \n\t", "body is empty"),
        ("not json", "body is not valid JSON"),
        ("{", "body is not valid JSON"),
        ("\x00\x01binary", "body is not valid JSON"),
        ("1" * 5000, "body is not valid JSON"),  # over Python's int-digit limit
        ("[]", "body must be a JSON object, not list"),
        ('"a string"', "body must be a JSON object, not str"),
        ("42", "body must be a JSON object, not int"),
        ("null", "body must be a JSON object, not NoneType"),
        ("true", "body must be a JSON object, not bool"),
    ],
)
def test_empty_garbage_and_non_object_bodies_are_rejected(raw: str, reason: str) -> None:
    assert rejected(raw).startswith(reason)


@pytest.mark.parametrize("depth", [50, 5_000, 200_000])
def test_deeply_nested_json_is_rejected_without_raising(depth: int) -> None:
    # GIVEN JSON nested far beyond the recursion limit (and a moderate one inside a field)
    # WHEN parsed THEN the result is a Rejected, never an exception
    assert isinstance(parse("[" * depth + "]" * depth), Rejected)
    nested = (
        '{"subscriberIdString": ' + "[" * depth + "]" * depth + ', "subscriptionId": 1, "statusState": "X"}'
    )
    assert isinstance(parse(nested), Rejected)


def test_json_reason_is_bounded_in_length() -> None:
    assert len(rejected("{" + "x" * 10_000)) < 200


# --- message_from_record ----------------------------------------------------------------------------


def test_message_from_record_reads_every_part_of_a_fifo_record() -> None:
    record = sqs_record(
        status_body(), message_id="m-7", sent_timestamp_ms=SENT_MS, receive_count=3, group_id="g-1"
    )
    record["messageAttributes"] = {"trace": {"stringValue": "t-1", "dataType": "String"}}
    result = message_from_record(record, 7)
    assert result.message_id == "m-7"
    assert result.position == 7
    assert result.body == record["body"]
    assert result.receipt_handle == record["receiptHandle"]
    assert result.sent_timestamp_ms == SENT_MS
    assert result.receive_count == 3
    assert result.group_id == "g-1"
    assert result.source_arn == record["eventSourceARN"]
    assert result.attributes == record["messageAttributes"]


def test_message_from_record_of_a_standard_queue_has_no_group() -> None:
    assert message_from_record(sqs_record(status_body(), message_id="m-1"), 0).group_id is None


def test_message_from_record_tolerates_a_record_with_nothing_in_it() -> None:
    # GIVEN an empty record WHEN converted THEN a Message with safe defaults comes out (never an exception)
    result = message_from_record({}, 3)
    assert result == Message(message_id="", position=3, body="")
    assert result.receive_count == 1
    assert result.sent_timestamp_ms == 0
    assert result.group_id is None
    assert isinstance(parse_message(result), Rejected)


@pytest.mark.parametrize(
    "attributes",
    [
        None,
        {},
        {"SentTimestamp": "not a number", "ApproximateReceiveCount": "x"},
        {"SentTimestamp": None, "ApproximateReceiveCount": "0"},
        {"ApproximateReceiveCount": "-4"},
        "garbage",
        ["SentTimestamp", "1"],
        {"SentTimestamp": float("inf"), "ApproximateReceiveCount": float("nan")},
    ],
)
def test_message_from_record_tolerates_missing_or_garbled_attributes(attributes: Any) -> None:
    record = {"messageId": "m-1", "body": "{}", "attributes": attributes, "messageAttributes": "garbage"}
    result = message_from_record(record, 0)
    assert result.message_id == "m-1"
    assert result.sent_timestamp_ms == 0
    assert result.receive_count == 1
    assert result.group_id is None


def test_message_from_record_with_a_non_string_body_gets_an_empty_body() -> None:
    result = message_from_record({"messageId": "m-1", "body": {"already": "parsed"}}, 0)
    assert result.body == ""
    assert parse_message(result) == Rejected(result, "body is empty")


def test_message_from_record_turns_a_non_string_group_id_into_a_string() -> None:
    result = message_from_record({"messageId": "m-1", "body": "{}", "attributes": {"MessageGroupId": 12}}, 0)
    assert result.group_id == "12"


# --- hostile text, dates and duplicate keys -------------------------------------------------------


@pytest.mark.parametrize(
    ("character", "kind"),
    [
        ("\ud800", "a lone surrogate"),  # half an emoji, as a JavaScript producer cuts it
        ("\x85", "control characters"),  # C1: NEL
        ("\x9b", "control characters"),  # C1: CSI
        ("\u202e", "a bidi override"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u2067", "a bidi override"),  # RIGHT-TO-LEFT ISOLATE
        ("\ufdd0", "a non-character"),
        ("\uffff", "a non-character"),
        ("\U0010fffe", "a non-character"),
    ],
)
def test_explanation_the_encoder_or_hubspot_cannot_take_is_rejected(character: str, kind: str) -> None:
    # GIVEN free text with one unsafe code point (JSON-escaped, so the body itself is plain ASCII)
    body = json.dumps(status_body(legalBasisExplanation=f"consent{character}given"))
    # WHEN parsed THEN it is rejected, saying what and where, in a reason that is itself plain ASCII
    reason = rejected(body)
    assert f"legalBasisExplanation contains {kind}" in reason
    assert "at 7" in reason
    assert reason.isascii()


@pytest.mark.parametrize("text", ["Einwilligung 😀 erteilt", "הסכמה ניתנה", "👩‍👩‍👧 family", "tab-free é"])
def test_explanation_in_any_script_or_with_emoji_is_accepted(text: str) -> None:
    assert (
        accepted(json.loads(json.dumps(status_body(legalBasisExplanation=text)))).legal_basis_explanation
        == text
    )


@pytest.mark.parametrize(
    "raw",
    [
        '{"subscriberIdString": "a@example.com", "subscriptionId": 1, "statusState": "SUBSCRIBED",'
        ' "statusState": "UNSUBSCRIBED"}',
        '{"Type": "Notification", "Message": "{\\"subscriberIdString\\": \\"a@example.com\\",'
        ' \\"subscriptionId\\": 1, \\"subscriptionId\\": 2, \\"statusState\\": \\"SUBSCRIBED\\"}"}',
    ],
)
def test_duplicate_json_keys_are_rejected_not_resolved_to_the_last(raw: str) -> None:
    # GIVEN a body (bare or in an SNS envelope) that names one field twice WHEN parsed THEN rejected
    assert "duplicate JSON key(s)" in rejected(raw)


def test_keys_that_differ_only_in_case_are_not_duplicates() -> None:
    raw = '{"subscriberIdString": "a@example.com", "subscriptionId": 1, "statusState": "SUBSCRIBED", "Id": 1}'
    assert "unknown field(s): Id" in rejected(raw)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-05",  # date only
        "2026-W02-1",  # week date
        "2026-W02",
        "2026-005",  # ordinal date
        "20260105T100000Z",  # basic form
        "2026-01-05T10",  # hours only
        "2026-01-05T10:00:00.1234567Z",  # more than microseconds
    ],
)
def test_occurred_at_must_be_a_full_extended_date_time(value: str) -> None:
    assert "occurredAt is not a full ISO-8601 date-time" in rejected(status_body(occurredAt=value))


@pytest.mark.parametrize("value", ["1999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_occurred_at_before_2000_is_rejected(value: str) -> None:
    assert "is before 2000-01-01" in rejected(status_body(occurredAt=value))


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59Z", "2026-01-06T10:00:01Z", "2026-01-06T11:00:01+01:00"]
)
def test_occurred_at_more_than_a_day_after_sent_timestamp_is_rejected(value: str) -> None:
    # GIVEN SentTimestamp 2026-01-05T10:00Z WHEN occurredAt is more than a day later THEN rejected
    assert "more than a day ahead" in rejected(status_body(occurredAt=value))


def test_without_sent_timestamp_occurred_at_is_checked_against_now() -> None:
    # GIVEN a record without SentTimestamp (0) and a clock at SENT_MS
    late = message(status_body(occurredAt="2026-01-06T10:00:01Z"), sent_timestamp_ms=0)
    fine = message(status_body(occurredAt="2026-01-06T09:59:59Z"), sent_timestamp_ms=0)
    # WHEN parsed THEN the day's window runs from the clock
    assert isinstance(parse_message(late, now_ms=SENT_MS), Rejected)
    assert isinstance(parse_message(fine, now_ms=SENT_MS), StatusUpdate)
