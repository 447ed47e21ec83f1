"""One id per record. Pure: no I/O.

Outcomes are kept per message id, and SQS answers by message id. Records that share an id (or have
none) must not merge their outcomes: each gets an id of its own for the invocation and keeps the SQS
id beside it, which the response reports (if any record carrying it must come back) and the DLQ copy
names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from status_writer.model import Message


def distinct(messages: Sequence[Message]) -> list[Message]:
    """The messages with unique ids; one made unique keeps the SQS id in ``sqs_id``."""
    counts = Counter(message.message_id for message in messages)
    if all(count == 1 for count in counts.values()) and "" not in counts:
        return list(messages)
    return [
        message
        if counts[message.message_id] == 1 and message.message_id
        else replace(
            message, message_id=f"{message.message_id}#{message.position}", sqs_id=message.message_id
        )
        for message in messages
    ]
