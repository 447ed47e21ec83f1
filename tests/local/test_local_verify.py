"""The end-of-run checks: lost messages, the DLQ's contents by reason, and HubSpot's final state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from local.aws.queues import NO_REASON, REDRIVE_REASON, DeadLetters, queue_depth, read_dead_letters
from local.workload.verify import Observed, check_state, lost_messages
from local.workload.workload import Key, WorkItem, classify

KEY = ("ada@example.com", 1001, "EMAIL")


def update(state: str, second: int, message_id: str, sequence: int) -> WorkItem:
    body = json.dumps(
        {
            "subscriberIdString": "ada@example.com",
            "subscriptionId": 1001,
            "statusState": state,
            "occurredAt": f"2026-01-01T10:00:{second:02d}Z",
        }
    )
    return WorkItem(body=body, expectation=classify(body), message_id=message_id, sequence=sequence)


def hubspot(status: str | None, written_at: float | None = None) -> Any:
    def lookup(keys: Sequence[Key]) -> dict[Key, Observed]:
        return dict.fromkeys(keys, Observed(status, written_at))

    return lookup


def test_hubspot_at_the_newest_update_passes() -> None:
    items = [update("SUBSCRIBED", 1, "old", 0), update("UNSUBSCRIBED", 2, "new", 1)]
    checked, mismatches = check_state(items, hubspot("UNSUBSCRIBED"), {"old": (0, 1), "new": (0, 1)})
    assert (checked, mismatches) == (1, [])


def test_never_written_reads_as_not_specified() -> None:
    items = [update("NOT_SPECIFIED", 1, "m", 0)]
    assert check_state(items, hubspot(None), {"m": (0, 1)})[1] == []


def test_an_older_update_written_by_a_later_batch_is_a_stale_overwrite() -> None:
    # GIVEN the newest update settled in a batch that ran before the batch holding an older one
    items = [update("UNSUBSCRIBED", 2, "new", 0), update("SUBSCRIBED", 1, "old", 1)]
    windows = {"new": (10.0, 11.0), "old": (12.0, 13.0)}
    # WHEN HubSpot holds the older update's status, written during the later batch
    _, (mismatch,) = check_state(items, hubspot("SUBSCRIBED", written_at=12.5), windows)
    # THEN it is reported, and explained by delivery order
    assert (mismatch.expected, mismatch.actual, mismatch.stale_overwrite) == (
        "UNSUBSCRIBED",
        "SUBSCRIBED",
        True,
    )


def test_a_status_no_batch_wrote_is_a_wrong_state() -> None:
    # GIVEN one batch carrying both updates, so the handler had to pick the newest
    items = [update("UNSUBSCRIBED", 2, "new", 0), update("SUBSCRIBED", 1, "old", 1)]
    windows = {"new": (10.0, 11.0), "old": (10.0, 11.0)}
    # WHEN HubSpot holds the older one's status
    _, (mismatch,) = check_state(items, hubspot("SUBSCRIBED", written_at=10.5), windows)
    # THEN delivery order does not explain it
    assert mismatch.stale_overwrite is False


def test_lost_counts_unsettled_messages_and_missing_dead_letters() -> None:
    good = update("SUBSCRIBED", 1, "good", 0)
    stuck = update("SUBSCRIBED", 2, "stuck", 1)
    invalid = WorkItem(body="{oops", expectation=classify("{oops"), message_id="invalid", sequence=2)
    redriven = update("SUBSCRIBED", 3, "redriven", 3)
    letters = DeadLetters(redriven={"redriven"})
    lost = lost_messages([good, stuck, invalid, redriven], {"good", "invalid"}, letters)
    assert lost == {"unsettled": ["stuck"], "missing_dead_letter": ["invalid"]}


def test_the_dlq_is_read_whole_and_split_by_reason(sqs: Any, make_queue: Any) -> None:
    # GIVEN a DLQ with two handler dead-letters (one of them twice) and one SQS redrive
    url, _ = make_queue()
    for original, category in (
        ("m-1", "INVALID_MESSAGE"),
        ("m-2", "HUBSPOT_REJECTED_ITEM"),
        ("m-1", "INVALID_MESSAGE"),
    ):
        sqs.send_message(
            QueueUrl=url,
            MessageBody="{}",
            MessageAttributes={
                "original_message_id": {"DataType": "String", "StringValue": original},
                "error_category": {"DataType": "String", "StringValue": category},
            },
        )
    redriven = sqs.send_message(QueueUrl=url, MessageBody="{}")["MessageId"]
    # WHEN it is read
    letters = read_dead_letters(sqs, url)
    # THEN every message is accounted for once, with its reason
    assert letters.by_handler == {"m-1": "INVALID_MESSAGE", "m-2": "HUBSPOT_REJECTED_ITEM"}
    assert letters.redriven == {redriven}
    assert letters.duplicates == 1
    assert letters.by_reason() == {"HUBSPOT_REJECTED_ITEM": 1, "INVALID_MESSAGE": 1, REDRIVE_REASON: 1}


def test_reading_with_delete_empties_the_dlq_into_one_record_and_flags_a_missing_reason(
    sqs: Any, make_queue: Any
) -> None:
    # GIVEN a DLQ holding a handler dead letter without an error_category, read once with delete
    url, _ = make_queue()
    reasonless = {"original_message_id": {"DataType": "String", "StringValue": "m-1"}}
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageAttributes=reasonless)
    letters = read_dead_letters(sqs, url, delete=True)
    # WHEN a redriven message arrives afterwards and is read into the same record
    redriven = sqs.send_message(QueueUrl=url, MessageBody="{}")["MessageId"]
    read_dead_letters(sqs, url, letters)
    # THEN the record holds both, the first has no reason (and is counted as such), the queue was emptied
    assert letters.by_handler == {"m-1": ""}
    assert letters.redriven == {redriven}
    assert letters.by_reason() == {NO_REASON: 1, REDRIVE_REASON: 1}
    assert len(letters.messages) == 2
    assert queue_depth(sqs, url) == 1  # only the second read (without delete) left its message
