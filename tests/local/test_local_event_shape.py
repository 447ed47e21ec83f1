"""The Lambda SQS event the local event source builds: every record field and attribute in Lambda's
shape, from what moto's ReceiveMessage returned."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from local_helpers import probes, send

from local.aws.event_source import EventSourceMapping
from local.aws.runtime import FunctionSpec
from local.aws.sqs_event import lambda_message_attributes, lambda_record

RECORD_KEYS = [
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
]


def test_message_attributes_take_lambdas_camel_case_shape() -> None:
    # GIVEN the three attribute types as boto3 returns them
    received = {
        "colour": {"StringValue": "teal", "DataType": "String"},
        "count": {"StringValue": "3", "DataType": "Number.int"},
        "blob": {"BinaryValue": b"\x00\x01\xff", "DataType": "Binary"},
    }
    # WHEN they are shaped for the event
    shaped = lambda_message_attributes(received)
    # THEN each has Lambda's keys, binary values base64-encoded and empty list values present
    assert shaped == {
        "colour": {
            "stringValue": "teal",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "count": {
            "stringValue": "3",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number.int",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\x01\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }


def test_a_record_without_attributes_has_no_md5_of_message_attributes() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "h-1",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "Unknown": "x"},
    }
    record = lambda_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert list(record) == RECORD_KEYS
    assert record["attributes"] == {"ApproximateReceiveCount": "1", "SentTimestamp": "1"}
    assert record["messageAttributes"] == {}
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", "us-east-1")


def test_the_handler_receives_every_field_sqs_returned(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Callable[..., Any],
) -> None:
    # GIVEN a message with a string, a number and a binary attribute
    url, arn = make_queue()
    attributes = {
        "producer": {"DataType": "String", "StringValue": "crm-sync"},
        "attempt": {"DataType": "Number", "StringValue": "2"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
    }
    (message_id,) = send(sqs, url, {"hello": "world"}, MessageAttributes=attributes)
    # WHEN the event source delivers it to a handler that logs its event
    mapping = EventSourceMapping(queue_url=url, queue_arn=arn, batch_size=10, poll_wait_s=0)
    source = run_source(mapping, probe_spec("echo"), until=lambda s: len(s.invocations) >= 1)
    # THEN the record has Lambda's fields and attribute shapes
    (record,) = probes(source)[0]["event"]["Records"]
    assert list(record) == [*RECORD_KEYS[:5], "md5OfBody", "md5OfMessageAttributes", *RECORD_KEYS[6:]]
    assert record["messageId"] == message_id
    assert json.loads(record["body"]) == {"hello": "world"}
    assert record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert record["messageAttributes"]["producer"] == {
        "stringValue": "crm-sync",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["attempt"]["stringValue"] == "2"
    assert record["messageAttributes"]["raw"]["binaryValue"] == base64.b64encode(b"\x01\x02").decode()


def test_fifo_records_carry_group_sequence_and_deduplication_ids(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Callable[..., Any],
) -> None:
    # GIVEN two messages of one group on a FIFO queue (explicit deduplication ids: moto only numbers
    # those messages, where SQS numbers every FIFO message)
    url, arn = make_queue(fifo=True)
    for body in ("first", "second"):
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId="contact-ada", MessageDeduplicationId=f"d-{body}"
        )
    # WHEN they are delivered
    mapping = EventSourceMapping(queue_url=url, queue_arn=arn, batch_size=10, poll_wait_s=0)
    source = run_source(
        mapping, probe_spec("echo"), until=lambda s: sum(len(i.message_ids) for i in s.invocations) >= 2
    )
    # THEN each record names its group, its sequence number and its deduplication id, in order
    records = [r for p in probes(source) for r in p["event"]["Records"]]
    assert [r["body"] for r in records] == ["first", "second"]
    for record in records:
        assert record["attributes"]["MessageGroupId"] == "contact-ada"
        assert record["attributes"]["SequenceNumber"].isdigit()
    assert [r["attributes"]["MessageDeduplicationId"] for r in records] == ["d-first", "d-second"]


@pytest.mark.parametrize(
    ("batch_size", "window_s", "fifo"),
    [(11, 0, False), (10_001, 5, False), (11, 0, True), (5, 1, True), (10, 301, False)],
    ids=[
        "big-batch-without-window",
        "batch-too-big",
        "fifo-batch-too-big",
        "fifo-with-window",
        "window-too-long",
    ],
)
def test_settings_lambda_refuses_are_refused(batch_size: int, window_s: int, fifo: bool) -> None:
    arn = "arn:aws:sqs:us-east-1:123456789012:q" + (".fifo" if fifo else "")
    with pytest.raises(ValueError, match=r"\S"):
        EventSourceMapping(queue_url="u", queue_arn=arn, batch_size=batch_size, batching_window_s=window_s)
