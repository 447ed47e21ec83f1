"""The dead-letter tool's decisions, as pure functions over DLQ messages."""

from __future__ import annotations

import json
from typing import Any

from local.ops.letters import NO_CATEGORY, Verdict, by_category, export_line, from_sqs, replay_entry, triage


def dlq_message(
    body: dict[str, Any] | str, category: str | None = None, sent_ms: int = 1_795_684_800_000, **extra: str
) -> dict[str, Any]:
    """A ReceiveMessage result from the DLQ, with the attributes the function adds when it dead-letters."""
    attributes: dict[str, Any] = {
        name: {"DataType": "String", "StringValue": value} for name, value in extra.items()
    }
    if category is not None:
        attributes |= {
            "error_category": {"DataType": "String", "StringValue": category},
            "error_message": {"DataType": "String", "StringValue": "reason for ada@example.com"},
            "original_message_id": {"DataType": "String", "StringValue": "orig-1"},
            "receive_count": {"DataType": "Number", "StringValue": "1"},
        }
    return {
        "MessageId": f"m-{sent_ms}",
        "ReceiptHandle": f"h-{sent_ms}",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {"SentTimestamp": str(sent_ms)},
        "MessageAttributes": attributes,
    }


VALID = {"subscriberIdString": "ada@example.com", "subscriptionId": 1001, "statusState": "SUBSCRIBED"}


def test_a_valid_message_moved_by_sqs_would_pass() -> None:
    # GIVEN a valid update SQS moved after its deliveries ran out (no reason attributes)
    letter = from_sqs(dlq_message(VALID))
    # WHEN triaged THEN it would pass, and the table warns it counts as sent now
    result = triage(letter)
    assert letter.category == NO_CATEGORY
    assert result.verdict is Verdict.WOULD_PASS
    assert "no occurredAt" in result.why


def test_the_functions_own_validator_decides_invalid() -> None:
    result = triage(from_sqs(dlq_message({**VALID, "status": "X"}, "INVALID_MESSAGE")))
    assert result.verdict is Verdict.STILL_INVALID
    assert "unknown field" in result.why


def test_a_rejected_item_needs_a_fix_unless_included() -> None:
    letter = from_sqs(dlq_message({**VALID, "occurredAt": "2026-11-26T09:30:00Z"}, "HUBSPOT_REJECTED_ITEM"))
    assert triage(letter).verdict is Verdict.NEEDS_A_FIX
    included = triage(letter, frozenset({"HUBSPOT_REJECTED_ITEM"}))
    assert (included.verdict, included.why) == (Verdict.WOULD_PASS, "valid")


def test_a_message_whose_receives_ran_out_would_pass_once_its_cause_is_fixed() -> None:
    # GIVEN a valid update the function dead-lettered at its last receive (its portal's token refused)
    letter = from_sqs(dlq_message({**VALID, "occurredAt": "2026-11-26T09:30:00Z"}, "RECEIVES_EXHAUSTED"))
    # WHEN triaged THEN it is replayable as it is: the data was never refused, only not yet delivered
    assert (triage(letter).verdict, letter.category) == (Verdict.WOULD_PASS, "RECEIVES_EXHAUSTED")


def test_all_invalid_means_nothing_would_pass() -> None:
    # GIVEN only broken bodies WHEN triaged THEN none would pass
    bodies = ["", "not json", "[]", json.dumps({"subscriberIdString": "x"})]
    results = [
        triage(from_sqs(dlq_message(body, "INVALID_MESSAGE", sent_ms=n + 1))) for n, body in enumerate(bodies)
    ]
    assert {result.verdict for result in results} == {Verdict.STILL_INVALID}


def test_grouping_counts_each_category_and_samples_the_oldest() -> None:
    letters = [
        from_sqs(dlq_message(VALID, "INVALID_MESSAGE", sent_ms=3_000)),
        from_sqs(dlq_message(VALID, "INVALID_MESSAGE", sent_ms=1_000)),
        from_sqs(dlq_message(VALID, sent_ms=2_000)),
    ]
    rows = by_category(letters)
    assert [(row.category, row.count, row.oldest_ms) for row in rows] == [
        ("INVALID_MESSAGE", 2, 1_000),
        (NO_CATEGORY, 1, 2_000),
    ]
    assert rows[0].sample.sent_timestamp_ms == 1_000


def test_export_masks_emails_unless_asked() -> None:
    letter = from_sqs(dlq_message(VALID, "HUBSPOT_REJECTED_ITEM"))
    masked, clear = json.loads(export_line(letter, False)), json.loads(export_line(letter, True))
    assert "ada@" not in masked["body"] + masked["error_message"]
    assert "ada@example.com" in clear["body"]
    assert clear["original_message_id"] == "orig-1"


def test_a_replay_carries_the_producers_attributes_but_not_the_reason() -> None:
    letter = from_sqs(dlq_message(VALID, "HUBSPOT_REJECTED_ITEM", producer="crm-sync"))
    entry = replay_entry(0, letter, fifo=True)
    assert set(entry["MessageAttributes"]) == {"producer"}
    assert entry["MessageGroupId"] == "replay"
    assert entry["MessageBody"] == json.dumps(VALID)
