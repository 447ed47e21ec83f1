"""What the local event source does with a function's answer: Lambda's ReportBatchItemFailures rules
(local/aws/sqs_event.py, README "Outcomes"). Pure: no queue, no process."""

from __future__ import annotations

from typing import Any

import pytest

from local.aws.runtime import InvokeResult
from local.aws.sqs_event import interpret_response

BATCH = ["m-1", "m-2", "m-3"]


def answered(payload: Any) -> InvokeResult:
    return InvokeResult(request_id="r", status="ok", payload=payload)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"batchItemFailures": None},
        {"batchItemFailures": []},
        {"statusCode": 200},  # no batchItemFailures key: nothing reported failed
    ],
    ids=["null", "empty-object", "null-list", "empty-list", "no-key"],
)
def test_a_response_reporting_no_failures_deletes_the_whole_batch(payload: Any) -> None:
    # GIVEN an invocation that succeeded with an answer listing no failures
    # WHEN the event source applies it
    verdict = interpret_response(answered(payload), BATCH)
    # THEN every record is deleted and none is left to come back
    assert verdict.kind == "success"
    assert verdict.delete_ids == frozenset(BATCH)
    assert verdict.retry_ids == frozenset()


def test_listed_failures_stay_and_the_rest_is_deleted() -> None:
    # GIVEN an answer listing one record of the batch (twice, which changes nothing)
    payload = {"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-2"}]}
    # WHEN it is applied
    verdict = interpret_response(answered(payload), BATCH)
    # THEN only the listed record is left to its visibility timeout
    assert verdict.kind == "partial"
    assert verdict.retry_ids == frozenset({"m-2"})
    assert verdict.delete_ids == frozenset({"m-1", "m-3"})


def test_an_entry_may_carry_extra_keys_next_to_item_identifier() -> None:
    payload = {"batchItemFailures": [{"itemIdentifier": "m-1", "reason": "retry later"}]}
    verdict = interpret_response(answered(payload), BATCH)
    assert verdict.kind == "partial"
    assert verdict.retry_ids == frozenset({"m-1"})


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": "m-999"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifier": 7}]},
        {"batchItemFailures": [{"ItemIdentifier": "m-1"}]},
        {"batchItemFailures": [{"itemidentifier": "m-1"}]},
        {"batchItemFailures": [{"messageId": "m-1"}]},
        {"batchItemFailures": ["m-1"]},
        {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-404"}]},
        {"batchItemFailures": {"itemIdentifier": "m-1"}},
        {"batchItemFailures": "m-1"},
        ["m-1"],
        "ok",
        42,
        True,
    ],
    ids=[
        "unknown-id",
        "empty-id",
        "null-id",
        "non-string-id",
        "capitalised-key",
        "lowercase-key",
        "wrong-key",
        "bare-string-entry",
        "one-good-one-unknown",
        "object-not-list",
        "string-not-list",
        "top-level-list",
        "top-level-string",
        "top-level-number",
        "top-level-bool",
    ],
)
def test_a_malformed_response_fails_the_whole_batch(payload: Any) -> None:
    # GIVEN an answer that breaks the partial batch response contract
    # WHEN it is applied
    verdict = interpret_response(answered(payload), BATCH)
    # THEN nothing is deleted: the whole batch comes back, as Lambda treats it as a complete failure
    assert verdict.kind == "failed"
    assert verdict.delete_ids == frozenset()
    assert verdict.retry_ids == frozenset(BATCH)
    assert verdict.reason


@pytest.mark.parametrize("status", ["error", "timeout", "crash"])
def test_an_invocation_that_did_not_return_fails_the_whole_batch(status: str) -> None:
    # GIVEN an invocation that raised, timed out or whose runtime died
    result = InvokeResult(request_id="r", status=status, error={"errorType": "X", "errorMessage": "boom"})
    # WHEN it is applied
    verdict = interpret_response(result, BATCH)
    # THEN nothing is deleted and the reason names what happened
    assert verdict.kind == "failed"
    assert verdict.delete_ids == frozenset()
    assert verdict.retry_ids == frozenset(BATCH)
    assert verdict.reason.startswith(status)
