"""Dead letters as values, and the decisions over them: grouping, masking and replay triage. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from status_writer.model import FailureCategory, Message, Rejected
from status_writer.observability import redact_emails
from status_writer.parse import parse_message

# The attributes the function adds when it dead-letters a message (README "Outcomes"); a replay does
# not carry them back to the queue.
REASON_ATTRIBUTES = frozenset({"error_category", "error_message", "original_message_id", "receive_count"})
# SQS moved it after MaxReceiveCount failed deliveries: the function never gave a reason.
NO_CATEGORY = "(moved by SQS)"
# HubSpot refused the data itself (unknown subscription, missing legal basis): sent again unchanged,
# it is refused again.
NEEDS_A_FIX = frozenset(
    {FailureCategory.HUBSPOT_REJECTED_ITEM.value, FailureCategory.HUBSPOT_REJECTED_BATCH.value}
)


@dataclass(frozen=True)
class DeadLetter:
    """One message read from the dead-letter queue."""

    message_id: str
    receipt_handle: str
    body: str
    category: str
    reason: str
    original_message_id: str
    sent_timestamp_ms: int
    group_id: str | None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sent_at(self) -> str:
        return iso(self.sent_timestamp_ms)


def from_sqs(message: Mapping[str, Any]) -> DeadLetter:
    """A ReceiveMessage result (AttributeNames and MessageAttributeNames "All") as a DeadLetter."""
    attributes = message.get("MessageAttributes") or {}
    system = message.get("Attributes") or {}

    def text(name: str, default: str) -> str:
        value = attributes.get(name, {}).get("StringValue")
        return str(value) if value else default

    try:
        sent = int(system.get("SentTimestamp", 0))
    except (TypeError, ValueError):
        sent = 0
    return DeadLetter(
        message_id=str(message.get("MessageId", "")),
        receipt_handle=str(message.get("ReceiptHandle", "")),
        body=str(message.get("Body", "")),
        category=text("error_category", NO_CATEGORY),
        reason=text("error_message", "-"),
        original_message_id=text("original_message_id", str(message.get("MessageId", ""))),
        sent_timestamp_ms=sent,
        group_id=system.get("MessageGroupId") or None,
        attributes={name: value for name, value in attributes.items() if name not in REASON_ATTRIBUTES},
    )


def iso(timestamp_ms: int) -> str:
    return (
        datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        if timestamp_ms
        else "-"
    )


def shown(text: str, show_emails: bool) -> str:
    """Emails masked the way the function's logs mask them, unless the operator asked to see them."""
    return text if show_emails else redact_emails(text)


@dataclass(frozen=True)
class CategorySummary:
    category: str
    count: int
    oldest_ms: int
    sample: DeadLetter


def by_category(letters: Iterable[DeadLetter]) -> list[CategorySummary]:
    """One row per error_category: how many, the oldest, and the oldest as a sample; biggest first."""
    groups: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        groups.setdefault(letter.category, []).append(letter)
    rows = []
    for category, members in groups.items():
        oldest = min(members, key=lambda letter: letter.sent_timestamp_ms)
        rows.append(CategorySummary(category, len(members), oldest.sent_timestamp_ms, oldest))
    return sorted(rows, key=lambda row: (-row.count, row.category))


class Verdict(StrEnum):
    WOULD_PASS = "would pass"  # noqa: S105 - a verdict, not a password
    STILL_INVALID = "still invalid"
    NEEDS_A_FIX = "needs a fix first"


@dataclass(frozen=True)
class Triage:
    letter: DeadLetter
    verdict: Verdict
    why: str


def triage(letter: DeadLetter, include: frozenset[str] = frozenset()) -> Triage:
    """Would this message pass if sent to the queue again, unchanged? The function's own validator
    decides validity (one validator: ``parse.parse_message``); a category HubSpot refuses for the data
    itself needs a fix first unless the operator includes it (after fixing the data in HubSpot)."""
    parsed = parse_message(
        Message(
            message_id=letter.original_message_id,
            position=0,
            body=letter.body,
            sent_timestamp_ms=letter.sent_timestamp_ms,
            group_id=letter.group_id,
        )
    )
    if isinstance(parsed, Rejected):
        return Triage(letter, Verdict.STILL_INVALID, parsed.reason)
    if letter.category in NEEDS_A_FIX and letter.category not in include:
        return Triage(letter, Verdict.NEEDS_A_FIX, f"{letter.category}: {letter.reason}")
    if parsed.occurred_at_us is None:
        return Triage(letter, Verdict.WOULD_PASS, "valid; no occurredAt, so it counts as sent now")
    return Triage(letter, Verdict.WOULD_PASS, "valid")


def export_line(letter: DeadLetter, show_emails: bool) -> str:
    """One JSON line per message: what it was, why it is here, and its body."""
    return json.dumps(
        {
            "message_id": letter.message_id,
            "original_message_id": letter.original_message_id,
            "error_category": letter.category,
            "error_message": shown(letter.reason, show_emails),
            "sent_at": letter.sent_at,
            "group_id": letter.group_id,
            "body": shown(letter.body, show_emails),
        },
        ensure_ascii=False,
    )


def replay_entry(index: int, letter: DeadLetter, fifo: bool) -> dict[str, Any]:
    """A SendMessageBatch entry for the main queue: the original body and the producer's attributes."""
    entry: dict[str, Any] = {"Id": f"r{index}", "MessageBody": letter.body}
    if letter.attributes:
        entry["MessageAttributes"] = dict(letter.attributes)
    if fifo:
        entry["MessageGroupId"] = letter.group_id or "replay"
        entry["MessageDeduplicationId"] = letter.message_id[:128]
    return entry


def count(results: Sequence[Triage], verdict: Verdict) -> int:
    return sum(1 for result in results if result.verdict is verdict)
