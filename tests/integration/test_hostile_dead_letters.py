"""Dead-letter copies at SQS's size limit, through moto: a copy that would pass 256 KiB (body plus
attributes) drops optional attributes and says which; a body too big for any copy still ends in
exactly one outcome (it comes back, and the queue's redrive moves the original)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from status_writer.dead_letter import DROPPED, MAX_MESSAGE_BYTES

from tests.factories import LambdaContext
from tests.integration.conftest import Stack
from tests.integration.hostile_helpers import failed, ids

Loader = Callable[..., ModuleType]


def sqs_size(message: dict[str, Any]) -> int:
    """What SQS counts: the body and each attribute's name, data type and value."""
    size = len(message["Body"].encode("utf-8"))
    for name, value in message.get("MessageAttributes", {}).items():
        raw = value.get("StringValue")
        payload = raw.encode("utf-8") if raw is not None else value.get("BinaryValue", b"")
        size += len(name.encode()) + len(value["DataType"].encode()) + len(payload)
    return size


def invalid_body(total_bytes: int) -> str:
    """An invalid message (an unknown field) of exactly ``total_bytes``."""
    shell = json.dumps(
        {"subscriberIdString": "a@example.com", "subscriptionId": 1, "statusState": "SUBSCRIBED", "pad": ""}
    )
    return shell[:-2] + "x" * (total_bytes - len(shell)) + shell[-2:]


def test_a_dead_letter_copy_near_the_size_limit_drops_optional_attributes_and_says_so(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN an invalid 250 KiB body sent with six 2 KiB attributes (it fits SQS as sent, but not with
    # the four error attributes added)
    body = invalid_body(250 * 1024)
    attributes = {f"trace{n}": {"DataType": "String", "StringValue": "t" * 2048} for n in range(6)}
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body, MessageAttributes=attributes)
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN it is dead-lettered: the copy fits SQS's limit, keeps the reason, and names what it dropped
    assert failed(response) == set()
    (dead,) = stack.dead_letters()
    assert dead["Body"] == body
    assert sqs_size(dead) <= MAX_MESSAGE_BYTES
    carried = dead["MessageAttributes"]
    assert carried["error_category"]["StringValue"] == "INVALID_MESSAGE"
    dropped = carried[DROPPED]["StringValue"].split(",")
    assert dropped
    assert set(dropped) | {name for name in carried if name.startswith("trace")} == set(attributes)


def test_a_body_too_big_for_any_dead_letter_copy_comes_back_once(stack: Stack, load_handler: Loader) -> None:
    # GIVEN an invalid body so close to 256 KiB that the error attributes cannot fit beside it
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=invalid_body(MAX_MESSAGE_BYTES - 20))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN no oversized copy was sent; the record comes back (the queue's redrive moves the original)
    assert stack.dead_letters() == []
    assert failed(response) == ids(event)
