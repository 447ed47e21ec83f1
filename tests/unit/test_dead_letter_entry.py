"""dead_letter: the DLQ copy's attributes stay inside what SQS accepts (characters, count, size)."""

from __future__ import annotations

from typing import Any

from status_writer.dead_letter import DROPPED, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, DeadLetterQueue, _sqs_text
from status_writer.model import Failure, FailureCategory, Message
from status_writer.observability import redact_emails

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


def test_an_address_in_the_reason_holding_a_lone_surrogate_still_gets_a_copy() -> None:
    # GIVEN a reason quoting an email-like field name whose local part is a lone surrogate
    failure = Failure(FailureCategory.INVALID_MESSAGE, "unknown field(s): \ud800@example.com", permanent=True)
    # WHEN its DLQ copy is built (its log line masks the address)
    entry = entry_for(Message(message_id="m", position=0, body="{}"), failure)
    # THEN the copy goes, quoting the reason escaped
    assert entry is not None
    shown = entry["MessageAttributes"]["error_message"]["StringValue"]
    assert shown == "unknown field(s): \\ud800@example.com"


def test_masking_an_address_with_a_lone_surrogate_hashes_it() -> None:
    # GIVEN an email-looking text whose local part cannot be encoded as UTF-8
    # WHEN it is redacted for a log line
    shown = redact_emails("rejected \ud800@Example.com")
    # THEN it is masked like any address: a hash and the domain, nothing of the local part
    assert shown.startswith("rejected h:")
    assert shown.endswith("@example.com")
    assert "\ud800" not in shown


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


def sqs_accepts(code_point: int) -> bool:
    """SQS's message character set: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF."""
    return (
        code_point in (0x9, 0xA, 0xD)
        or 0x20 <= code_point <= 0xD7FF
        or 0xE000 <= code_point <= 0xFFFD
        or 0x10000 <= code_point <= 0x10FFFF
    )


def test_exactly_the_characters_sqs_refuses_are_escaped_in_a_reason() -> None:
    # GIVEN every Unicode code point
    for code_point in range(0x110000):
        character = chr(code_point)
        # WHEN it stands in a reason of a DLQ copy
        shown = _sqs_text(f"a{character}b")
        # THEN it is kept as it is when SQS accepts it, and escaped when SQS refuses it
        assert (shown == f"a{character}b") is sqs_accepts(code_point), hex(code_point)
