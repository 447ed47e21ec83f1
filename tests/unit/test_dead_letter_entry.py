"""dead_letter: the DLQ copy's attributes stay inside what SQS accepts (characters, count, size)."""

from __future__ import annotations

from typing import Any

from status_writer.dead_letter import DROPPED, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, DeadLetterQueue
from status_writer.model import Failure, FailureCategory, Message

INVALID = Failure(FailureCategory.INVALID_MESSAGE, "unknown field(s): \x00\ud800", permanent=True)


def entry_for(message: Message, failure: Failure = INVALID) -> dict[str, Any] | None:
    built = DeadLetterQueue(sqs=None, queue_url="https://sqs.example/q")._entry(0, message, failure)
    return None if built is None else built[1]


def original(count: int, size: int) -> dict[str, Any]:
    return {f"a{n}": {"dataType": "String", "stringValue": "v" * size} for n in range(count)}


def test_a_reason_quoting_characters_sqs_refuses_is_escaped() -> None:
    # GIVEN a reason with a NUL and a lone surrogate (SQS would fail the whole batch on either)
    entry = entry_for(Message(message_id="m", position=0, body="{}"))
    # THEN the attribute holds their escapes instead
    assert entry is not None
    assert entry["MessageAttributes"]["error_message"]["StringValue"] == "unknown field(s): \\x00\\ud800"


def test_more_original_attributes_than_sqs_takes_are_named_as_dropped() -> None:
    # GIVEN nine original attributes beside the four error attributes
    entry = entry_for(Message(message_id="m", position=0, body="{}", attributes=original(9, 10)))
    # THEN ten attributes go, one of them naming the originals left out
    assert entry is not None
    attributes = entry["MessageAttributes"]
    assert len(attributes) == MAX_ATTRIBUTES
    dropped = attributes[DROPPED]["StringValue"].split(",")
    assert len(dropped) == 4
    assert set(dropped).isdisjoint(attributes)


def test_a_small_copy_keeps_every_original_attribute_and_names_nothing_dropped() -> None:
    entry = entry_for(Message(message_id="m", position=0, body="{}", attributes=original(3, 10)))
    assert entry is not None
    assert DROPPED not in entry["MessageAttributes"]
    assert {"a0", "a1", "a2"} <= set(entry["MessageAttributes"])


def test_a_body_too_big_for_any_copy_gets_none() -> None:
    # GIVEN a body that alone leaves no room for the error attributes THEN there is no copy to send
    assert entry_for(Message(message_id="m", position=0, body="x" * MAX_MESSAGE_BYTES)) is None


def test_a_body_sqs_could_never_take_gets_no_copy_instead_of_raising() -> None:
    # GIVEN a body holding a lone surrogate (SQS never delivers one, but a copy must not fail its batch)
    message = Message(message_id="m", position=0, body='{"subscriberIdString": "\ud800@example.com"}')
    # WHEN its copy is built THEN there is none: the record stays retryable for the queue's redrive
    assert entry_for(message) is None
