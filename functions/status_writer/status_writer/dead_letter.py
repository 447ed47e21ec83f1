"""Send permanent failures to the dead-letter queue with the reason as message attributes."""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import Any

from status_writer.deadline import Deadline
from status_writer.model import Failure, Message
from status_writer.observability import logger, redact_emails
from status_writer.within import run_within

MAX_ATTRIBUTES = 10  # SQS's limit per message
MAX_BATCH_BYTES = 200_000  # stay well under SendMessageBatch's payload limit
MAX_REASON = 1000


class DeadLetterQueue:
    """Permanent failures go here with their original body; SQS redrive is the fallback."""

    def __init__(self, sqs: Any, queue_url: str | None) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(
        self, failures: Sequence[tuple[Message, Failure]], *, deadline: Deadline | None = None
    ) -> set[str]:
        """Send each message; return the ids that SQS accepted. Never raises. With ``deadline`` the
        batches go out in parallel and whatever has not been accepted when the time is over is not
        (those records come back to the queue)."""
        if not failures or self._queue_url is None:
            return set()
        batches = _batches(
            [self._entry(index, message, failure) for index, (message, failure) in enumerate(failures)]
        )
        # Half of what is left: the visibility changes of the records that stay retryable come after.
        limit_s = None if deadline is None else deadline.settle_time_s() / 2
        accepted: set[str] = set()
        calls = [functools.partial(self._send_batch, batch) for batch in batches]
        for ids in run_within(calls, limit_s):
            accepted.update(ids or ())
        return accepted

    def _send_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> set[str]:
        try:
            answer = self._sqs.send_message_batch(
                QueueUrl=self._queue_url, Entries=[entry for _, entry in batch]
            )
        except Exception as error:  # the DLQ refusing must never lose the message: it is retried
            logger.warning(
                "dead-letter send failed", extra={"error": type(error).__name__, "count": len(batch)}
            )
            return set()
        ids = {entry["Id"]: message_id for message_id, entry in batch}
        for item in answer.get("Failed", []):
            logger.warning(
                "dead-letter entry refused", extra={"code": item.get("Code"), "entry": item.get("Id")}
            )
        return {ids[item["Id"]] for item in answer.get("Successful", []) if item.get("Id") in ids}

    def _entry(self, index: int, message: Message, failure: Failure) -> tuple[str, dict[str, Any]]:
        attributes: dict[str, Any] = {
            "error_category": {"DataType": "String", "StringValue": failure.category.value},
            "error_message": {"DataType": "String", "StringValue": (failure.detail or "-")[:MAX_REASON]},
            "original_message_id": {"DataType": "String", "StringValue": message.message_id or "-"},
            "receive_count": {"DataType": "Number", "StringValue": str(message.receive_count)},
        }
        for name, value in message.attributes.items():
            if len(attributes) >= MAX_ATTRIBUTES or name in attributes:
                break
            converted = _sqs_attribute(value)
            if converted is not None:
                attributes[name] = converted
        entry: dict[str, Any] = {
            "Id": f"m{index}",
            "MessageBody": message.body if message.body else "(empty body)",
            "MessageAttributes": attributes,
        }
        if self._queue_url is not None and self._queue_url.endswith(".fifo"):
            entry["MessageGroupId"] = message.group_id or "dead-letter"
            entry["MessageDeduplicationId"] = (message.message_id or str(index))[:128]
        logger.debug(
            "dead-lettering record",
            extra={
                "message_id": message.message_id,
                "category": failure.category.value,
                "reason": redact_emails(failure.detail),
            },
        )
        return message.message_id, entry


def _batches(entries: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Groups of at most 10 entries and MAX_BATCH_BYTES of bodies."""
    batches: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for item in entries:
        body_size = len(item[1]["MessageBody"].encode("utf-8")) + 2_000
        if current and (len(current) == 10 or size + body_size > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += body_size
    if current:
        batches.append(current)
    return batches


def _sqs_attribute(value: Any) -> dict[str, Any] | None:
    """Lambda's record shape (stringValue/binaryValue/dataType) to SendMessage's shape."""
    if not isinstance(value, dict) or not isinstance(value.get("dataType"), str):
        return None
    data_type = value["dataType"]
    if value.get("stringValue") is not None:
        return {"DataType": data_type, "StringValue": str(value["stringValue"])}
    if value.get("binaryValue") is not None:
        try:
            return {"DataType": data_type, "BinaryValue": base64.b64decode(value["binaryValue"])}
        except (ValueError, TypeError):
            return None
    return None
