"""Send permanent failures to the dead-letter queue with the reason as message attributes."""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Sequence
from typing import Any

from status_writer.deadline import Deadline
from status_writer.model import Failure, Message
from status_writer.observability import logger, redact_emails
from status_writer.within import run_within

MAX_ATTRIBUTES = 10  # SQS's limit per message
MAX_MESSAGE_BYTES = 262_144  # SQS's limit per message: body plus attributes (names, types, values)
DROPPED = "dropped_attributes"  # names the original attributes a DLQ copy could not carry
# What SQS refuses, spelt as the few ranges it is rather than the complement of what SQS accepts:
# the same set, but a negated class over all of Unicode costs ~6 ms of start-up to compile.
_NOT_SQS_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
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
        entries = [self._entry(index, message, failure) for index, (message, failure) in enumerate(failures)]
        batches = _batches([entry for entry in entries if entry is not None])
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

    def _entry(self, index: int, message: Message, failure: Failure) -> tuple[str, dict[str, Any]] | None:
        """The DLQ copy of one message, or None when even its body and reason exceed SQS's size: it
        then stays on its queue, retryable, and the queue's redrive moves the original (no size issue)."""
        required: dict[str, Any] = {
            "error_category": _string(failure.category.value),
            "error_message": _string(_sqs_text(failure.detail or "-")[:MAX_REASON]),
            "original_message_id": _string(_sqs_text(message.sqs_message_id or "-")),
            "receive_count": {"DataType": "Number", "StringValue": str(message.receive_count)},
        }
        if message.portal_id is not None:
            required["portal_id"] = {"DataType": "Number", "StringValue": message.portal_id}
        body = message.body if message.body else "(empty body)"
        if _NOT_SQS_TEXT.search(body):  # SQS never delivers one; a copy of it would fail its batch
            logger.warning("dead-letter copy not sendable to SQS", extra={"message_id": message.message_id})
            return None
        optional = {
            name: converted
            for name, value in message.attributes.items()
            if name not in required and name != DROPPED and (converted := _sqs_attribute(value)) is not None
        }
        attributes = _fitting(required, optional, len(body.encode("utf-8")))
        if attributes is None:
            logger.warning(
                "dead-letter copy too large for SQS; the queue's redrive will move it",
                extra={"message_id": message.message_id, "body_bytes": len(body.encode("utf-8"))},
            )
            return None
        entry: dict[str, Any] = {"Id": f"m{index}", "MessageBody": body, "MessageAttributes": attributes}
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


def _fitting(required: dict[str, Any], optional: dict[str, Any], body_bytes: int) -> dict[str, Any] | None:
    """The required attributes plus as many of the original ones as SQS takes (10 attributes, 256 KiB
    with the body), the largest dropped first; what was dropped is named in ``dropped_attributes``.
    None when the body and the required attributes alone are too large."""
    kept = dict(optional)
    dropped: list[str] = []

    def total(attributes: dict[str, Any]) -> int:
        return body_bytes + sum(_attribute_bytes(name, value) for name, value in attributes.items())

    while kept:
        candidate = {**required, **kept}
        if dropped:
            candidate[DROPPED] = _string(",".join(sorted(dropped))[:MAX_REASON])
        if len(candidate) <= MAX_ATTRIBUTES and total(candidate) <= MAX_MESSAGE_BYTES:
            return candidate
        largest = max(kept, key=lambda name: _attribute_bytes(name, kept[name]))
        dropped.append(largest)
        del kept[largest]
    candidate = dict(required)
    if dropped:
        candidate[DROPPED] = _string(",".join(sorted(dropped))[:MAX_REASON])
    return candidate if total(candidate) <= MAX_MESSAGE_BYTES else None


def _attribute_bytes(name: str, value: dict[str, Any]) -> int:
    """SQS counts an attribute as its name, its data type and its value."""
    raw = value.get("StringValue")
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(value.get("BinaryValue") or b"")
    return len(name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8")) + size


def _string(value: str) -> dict[str, Any]:
    return {"DataType": "String", "StringValue": value}


def _sqs_text(text: str) -> str:
    """Only the characters SQS accepts in a message (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD and beyond
    #xFFFF): a reason quoting a control character or a lone surrogate would fail its whole batch."""
    return _NOT_SQS_TEXT.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _batches(entries: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Groups of at most 10 entries and MAX_BATCH_BYTES of bodies and attributes (one larger entry goes
    alone: SendMessageBatch takes 256 KiB in all)."""
    batches: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for item in entries:
        body_size = len(item[1]["MessageBody"].encode("utf-8")) + sum(
            _attribute_bytes(name, value) for name, value in item[1]["MessageAttributes"].items()
        )
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
