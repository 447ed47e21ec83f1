"""Reading queues after (or during) a run: a queue's depth, and the one dead-letter reader.

A DLQ message with an ``original_message_id`` attribute was dead-lettered by the handler (its
``error_category`` attribute is the reason; README, Outcomes); one without was moved there by SQS's
redrive policy after maxReceiveCount deliveries. `make run`'s checks, the chaos suite (also while it
takes the DLQ down) and the integration tests all read the DLQ through `read_dead_letters`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

REDRIVE_REASON = "SQS_REDRIVE_MAX_RECEIVE_COUNT"
NO_REASON = "UNKNOWN"  # how a handler's dead letter without an error_category is counted
_DEPTH = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass
class DeadLetters:
    """What a DLQ held: by original message id, with the reason, and the raw messages read."""

    by_handler: dict[str, str] = field(default_factory=dict)  # original messageId -> error_category or ""
    redriven: set[str] = field(default_factory=set)  # messageIds SQS moved there
    duplicates: int = 0  # the same message dead-lettered (or redriven) more than once
    messages: list[dict[str, Any]] = field(default_factory=list)  # as ReceiveMessage returned them

    @property
    def ids(self) -> set[str]:
        return set(self.by_handler) | self.redriven

    def by_reason(self) -> dict[str, int]:
        reasons = Counter(category or NO_REASON for category in self.by_handler.values())
        if self.redriven:
            reasons[REDRIVE_REASON] += len(self.redriven)
        return dict(sorted(reasons.items()))

    def add(self, message: dict[str, Any]) -> None:
        """Count one DLQ message (a second copy of the same message counts as a duplicate)."""
        self.messages.append(message)
        attributes = message.get("MessageAttributes") or {}
        original = (attributes.get("original_message_id") or {}).get("StringValue")
        if original:
            self.duplicates += int(original in self.by_handler)
            self.by_handler[original] = (attributes.get("error_category") or {}).get("StringValue") or ""
        else:
            self.duplicates += int(message["MessageId"] in self.redriven)
            self.redriven.add(message["MessageId"])


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Visible + not visible + delayed messages of one queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(_DEPTH))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in _DEPTH)


def read_dead_letters(
    sqs: Any,
    queue_url: str,
    into: DeadLetters | None = None,
    *,
    delete: bool = False,
    hide_s: int = 900,
    empty_polls: int = 2,
) -> DeadLetters:
    """Receive every message of a DLQ once into `into` (a new DeadLetters if None) and return it.

    Each message is hidden for `hide_s` so none is read twice; with `delete` each is deleted once
    read (the chaos suite empties the DLQ before it deletes the queue). Reading stops after
    `empty_polls` empty answers in a row.
    """
    letters = into if into is not None else DeadLetters()
    empty = 0
    while empty < empty_polls:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=hide_s,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        empty = 0 if messages else empty + 1
        for message in messages:
            letters.add(message)
        if delete and messages:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
    return letters
