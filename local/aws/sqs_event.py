"""Lambda's SQS contract, as values: the event it builds from received messages, and what it does with
the function's answer (ReportBatchItemFailures). Pure functions; the poller is local.aws.event_source.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from local.aws.runtime import InvokeResult

EVENT_OVERHEAD_BYTES = len('{"Records":[]}')
# Lambda's record attribute order; only those SQS returned are included.
_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "DeadLetterQueueSourceArn",
)


# --------------------------------------------------------------------------------------------------
# The event
# --------------------------------------------------------------------------------------------------


def _b64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def lambda_message_attributes(
    attributes: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """SQS MessageAttributes (boto3 shape) in the camelCase shape Lambda puts in the event."""
    shaped: dict[str, dict[str, Any]] = {}
    for name, value in (attributes or {}).items():
        entry: dict[str, Any] = {}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = _b64(value["BinaryValue"])
        entry["stringListValues"] = list(value.get("StringListValues") or [])
        entry["binaryListValues"] = [_b64(item) for item in value.get("BinaryListValues") or []]
        entry["dataType"] = value["DataType"]
        shaped[name] = entry
    return shaped


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message (boto3 shape) as the record Lambda's event source passes on."""
    received = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: str(received[name]) for name in _SYSTEM_ATTRIBUTES if name in received},
        "messageAttributes": lambda_message_attributes(message.get("MessageAttributes")),
        "md5OfBody": message["MD5OfBody"],
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def sqs_event(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The event Lambda passes for a batch of SQS records."""
    return {"Records": list(records)}


def record_size(record: Mapping[str, Any]) -> int:
    """Bytes a record adds to the invocation payload (its JSON plus a separator)."""
    return len(json.dumps(record, separators=(",", ":")).encode()) + 1


# --------------------------------------------------------------------------------------------------
# The answer
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchVerdict:
    """What the event source does with a batch after the invocation.

    kind: ``success`` (delete all), ``partial`` (delete all but the listed ones) or ``failed``
    (delete nothing: the whole batch comes back after its visibility timeout).
    """

    kind: str
    delete_ids: frozenset[str]
    retry_ids: frozenset[str]
    reason: str = ""


def interpret_response(result: InvokeResult, batch_ids: Sequence[str]) -> BatchVerdict:
    """Apply Lambda's partial-batch-response rules for SQS to one invocation's result.

    Complete success: a null answer, an answer without ``batchItemFailures``, or a null/empty list.
    Complete failure: an invocation error, timeout or crash; an answer that is not a JSON object; a
    ``batchItemFailures`` that is not a list; an entry that is not an object, lacks the exact key
    ``itemIdentifier``, has a null/empty/non-string identifier, or names a message not in the batch.
    """
    ids = frozenset(batch_ids)
    problem = _response_problem(result, ids)
    if problem:
        return BatchVerdict("failed", frozenset(), ids, problem)
    failures = result.payload.get("batchItemFailures") if isinstance(result.payload, dict) else None
    listed = frozenset(entry["itemIdentifier"] for entry in failures or [])
    if not listed:
        return BatchVerdict("success", ids, frozenset(), "no failures reported")
    return BatchVerdict("partial", ids - listed, listed, f"{len(listed)} reported failed")


def _response_problem(result: InvokeResult, ids: frozenset[str]) -> str | None:
    """Why the invocation failed the whole batch, or None if its answer is a valid partial response."""
    if result.status != "ok":
        error = result.error or {}
        return f"{result.status}: {error.get('errorType', '')}: {error.get('errorMessage', '')}"
    payload = result.payload
    if payload is None:
        return None
    if not isinstance(payload, dict):
        return f"response is not a JSON object: {type(payload).__name__}"
    failures = payload.get("batchItemFailures")
    if failures is None:
        return None
    if not isinstance(failures, list):
        return "batchItemFailures is not a list"
    return next((problem for entry in failures if (problem := _entry_problem(entry, ids))), None)


def _entry_problem(entry: Any, ids: frozenset[str]) -> str | None:
    """Why one batchItemFailures entry makes the whole response invalid, or None if it is valid."""
    if not isinstance(entry, dict):
        return f"batchItemFailures entry is not an object: {entry!r}"
    if "itemIdentifier" not in entry:
        return f"batchItemFailures entry without itemIdentifier: {entry!r}"
    identifier = entry["itemIdentifier"]
    if not isinstance(identifier, str) or not identifier:
        return f"invalid itemIdentifier {identifier!r}"
    if identifier not in ids:
        return f"itemIdentifier {identifier!r} is not in the batch"
    return None
