"""One id per record. Pure: no I/O.

Outcomes are kept per message id, and SQS answers by message id. Records that share an id (or have
none) must not merge their outcomes: each gets an id of its own for the invocation, and the response
reports the SQS id if any record carrying it must come back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from status_writer.model import Message


def distinct(messages: Sequence[Message]) -> tuple[list[Message], dict[str, str]]:
    """The messages with unique ids, and the SQS id behind each id that was made unique."""
    counts = Counter(message.message_id for message in messages)
    if all(count == 1 for count in counts.values()) and "" not in counts:
        return list(messages), {}
    unique: list[Message] = []
    reported: dict[str, str] = {}
    for message in messages:
        if counts[message.message_id] == 1 and message.message_id:
            unique.append(message)
            continue
        own = f"{message.message_id}#{message.position}"
        reported[own] = message.message_id
        unique.append(replace(message, message_id=own))
    return unique, reported
