"""The files in events/ are complete, realistic SQS events (as `sam local invoke -e` takes them), and
each says what the test expects of it."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

import pytest
from status_writer.model import Rejected
from status_writer.parse import message_from_record, parse_message

from local.hubspot_emulator import DEFAULT_SUBSCRIPTIONS as EMULATOR_SUBSCRIPTIONS
from tests.template.event_expectations import EVENTS_DIR, EXPECTATIONS, load_event

RECORD_FIELDS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
QUEUE_ARN = re.compile(r"^arn:aws:sqs:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,75}(\.fifo)?$")
EMAIL_LIKE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
DEFAULT_SUBSCRIPTIONS = {subscription.id for subscription in EMULATOR_SUBSCRIPTIONS}

EVENT_FILES = sorted(EXPECTATIONS)


def unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """The status update inside an SNS or EventBridge envelope (or the body itself)."""
    if body.get("Type") == "Notification":
        inner: dict[str, Any] = json.loads(body["Message"])
        return inner
    if "detail-type" in body:
        detail: dict[str, Any] = body["detail"]
        return detail
    return body


def test_every_event_file_has_an_expectation() -> None:
    # GIVEN the files in events/
    files = {path.name for path in EVENTS_DIR.glob("*.json")}

    # THEN each one is described (and so exercised by the built-artifact test), and no description is stale
    assert files == set(EXPECTATIONS)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_each_record_has_every_field_lambda_delivers(name: str) -> None:
    # GIVEN one sample event
    records = load_event(name)["Records"]

    # THEN every record carries every field of Lambda's SQS record, consistently filled in
    assert records
    for record in records:
        assert set(record) == RECORD_FIELDS
        assert str(uuid.UUID(record["messageId"])) == record["messageId"]
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode("utf-8")).hexdigest()  # noqa: S324
        assert record["eventSource"] == "aws:sqs"
        arn = QUEUE_ARN.fullmatch(record["eventSourceARN"])
        assert arn is not None
        assert arn["region"] == record["awsRegion"]
        attributes = record["attributes"]
        assert int(attributes["ApproximateReceiveCount"]) >= 1
        assert re.fullmatch(r"\d{13}", attributes["SentTimestamp"])
        assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
        assert all(set(value) >= {"dataType"} for value in record["messageAttributes"].values())
    assert len({r["messageId"] for r in records}) == len(records)
    assert len({r["receiptHandle"] for r in records}) == len(records)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_addresses_are_at_example_com_and_subscriptions_are_the_emulators(name: str) -> None:
    # GIVEN one sample event and its expectation
    text = (EVENTS_DIR / name).read_text(encoding="utf-8")
    expectation = EXPECTATIONS[name]
    bodies = []
    for record in load_event(name)["Records"]:
        try:
            bodies.append(unwrap(json.loads(record["body"])))
        except ValueError:
            continue  # the deliberately non-JSON body

    # THEN no real address appears anywhere, and only HubSpot-rejected records use another subscription
    assert EMAIL_LIKE.findall(text)
    assert all(address.endswith("@example.com") for address in EMAIL_LIKE.findall(text))
    subscriptions = {b["subscriptionId"] for b in bodies if isinstance(b.get("subscriptionId"), int)}
    assert subscriptions - DEFAULT_SUBSCRIPTIONS == ({9999} if expectation.rejected_by_hubspot else set())


@pytest.mark.parametrize("name", EVENT_FILES)
def test_fifo_records_carry_group_and_sequence(name: str) -> None:
    # GIVEN one sample event
    records = load_event(name)["Records"]
    fifo = EXPECTATIONS[name].fifo

    # THEN FIFO records (and only they) come from a .fifo queue with group, sequence and dedup id,
    # sequence numbers increase, and the batch stays within FIFO's limit of 10
    for record in records:
        assert record["eventSourceARN"].endswith(".fifo") is fifo
        assert ("MessageGroupId" in record["attributes"]) is fifo
    if fifo:
        sequence = [int(r["attributes"]["SequenceNumber"]) for r in records]
        assert sequence == sorted(sequence)
        assert len(set(sequence)) == len(sequence)
        assert all(r["attributes"]["MessageDeduplicationId"] for r in records)
        assert len({r["attributes"]["MessageGroupId"] for r in records}) > 1
        assert len(records) <= 10


@pytest.mark.parametrize("name", EVENT_FILES)
def test_wrapped_bodies_use_the_real_envelopes(name: str) -> None:
    # GIVEN one sample event and the envelope it is meant to carry
    bodies = [json.loads(r["body"]) for r in load_event(name)["Records"] if r["body"].startswith("{")]
    envelope = EXPECTATIONS[name].envelope

    # THEN SNS bodies are notifications with the update as a JSON string, EventBridge bodies are events
    # with the update as `detail`, and the others are the update itself
    for body in bodies:
        if envelope == "sns":
            assert body["Type"] == "Notification"
            assert body["TopicArn"].startswith("arn:aws:sns:")
            assert isinstance(json.loads(body["Message"]), dict)
        elif envelope == "eventbridge":
            assert {"version", "id", "detail-type", "source", "account", "time", "region"} <= set(body)
            assert isinstance(body["detail"], dict)
        else:
            assert "Type" not in body
            assert "detail" not in body


@pytest.mark.parametrize("name", EVENT_FILES)
def test_the_records_meant_to_be_invalid_are_the_ones_the_contract_rejects(name: str) -> None:
    # GIVEN one sample event and the positions meant to be invalid
    records = load_event(name)["Records"]

    # WHEN each record is validated against the message contract
    rejected = {
        position
        for position, record in enumerate(records)
        if isinstance(parse_message(message_from_record(record, position)), Rejected)
    }

    # THEN exactly those are rejected (HubSpot-rejected records are well-formed, so they pass here)
    assert rejected == set(EXPECTATIONS[name].invalid)
