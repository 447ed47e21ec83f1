"""Helpers for the hostile-world integration tests: events straight into the handler, and checks that
every record ended in exactly one outcome."""

from __future__ import annotations

import json
from typing import Any

from status_writer.routes import ApiPaths

from tests.factories import sqs_event, sqs_record, status_body
from tests.integration.conftest import Stack

WRITE = ApiPaths().batch_write  # the default API version


def event_of(stack: Stack, count: int, *extra_bodies: dict[str, Any] | str) -> dict[str, Any]:
    """``count`` valid updates (distinct contacts) plus ``extra_bodies``, received from real SQS."""
    stack.send(*(status_body(f"user{index}@example.com", 1001) for index in range(count)), *extra_bodies)
    return stack.receive_event(count + len(extra_bodies))


def synthetic_event(count: int, queue_arn: str) -> dict[str, Any]:
    """An event of ``count`` valid updates shaped as Lambda delivers them (no SQS round trip)."""
    return sqs_event(
        *(
            sqs_record(status_body(f"user{index}@example.com", 1001), queue_arn=queue_arn)
            for index in range(count)
        )
    )


def failed(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def ids(event: dict[str, Any]) -> set[str]:
    return {record["messageId"] for record in event["Records"]}


def dead_letter_ids(stack: Stack) -> dict[str, str]:
    """original message id -> error category of every DLQ copy."""
    return {
        dead["MessageAttributes"]["original_message_id"]["StringValue"]: dead["MessageAttributes"][
            "error_category"
        ]["StringValue"]
        for dead in stack.dead_letters()
    }


def body_of(record: dict[str, Any]) -> Any:
    return json.loads(record["body"])
