"""A stack for the dead-letter tool: queue + DLQ (redrive after one receive) in moto server, the
secret, the HubSpot emulator and the real handler, which dead-letters messages as it does in AWS."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.hubspot_emulator import running_emulator
from tests.factories import LambdaContext

TOKEN = "pat-na1-00000000-1111-2222-3333-444444444444"


@dataclass
class OpsStack:
    sqs: Any
    emulator: Any
    queue_url: str
    queue_arn: str
    dlq_url: str

    def send(self, body: dict[str, Any] | str) -> None:
        raw = body if isinstance(body, str) else json.dumps(body)
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=raw)

    def receive(self, url: str | None = None, wait_s: int = 1) -> list[dict[str, Any]]:
        """Everything visible in the queue (or `url`), received once with the attributes Lambda gets."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url or self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_s,
                VisibilityTimeout=30,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return found
            found.extend(batch)

    def peek(self, url: str) -> list[dict[str, Any]]:
        """Up to 10 visible messages, received once and left visible (the tests' queues hold fewer)."""
        return list(
            self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def run_handler(self) -> dict[str, Any]:
        """Receive the queue's messages and run the real handler on them as Lambda would; delete what
        its response does not list."""
        messages = self.receive()
        event = {"Records": [lambda_record(message, self.queue_arn) for message in messages]}
        sys.modules.pop("app", None)
        app = importlib.import_module("app")
        try:
            response: dict[str, Any] = app.handler(event, LambdaContext())
        finally:
            runtime = getattr(app, "_runtime", None)
            if runtime is not None:
                runtime.executor.shutdown(wait=True)
                runtime.hubspot.close()
            sys.modules.pop("app", None)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return response

    def depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage result in the Lambda event's record shape."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def ops_stack(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpsStack]:
    """Queue and DLQ as the template makes them (SQS redrives after MaxReceiveCount, here 1), the
    secret, the emulator, and the function's environment."""
    sqs = boto3.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"ops-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"ops-updates-{suffix}",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    secret_id = f"hubspot-token-{suffix}"
    boto3.client("secretsmanager").create_secret(
        Name=secret_id, SecretString=json.dumps({"accessToken": TOKEN})
    )
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    with running_emulator(tokens=[TOKEN]) as emulator:
        for name, value in {
            "HUBSPOT_SECRET_ID": secret_id,
            "HUBSPOT_API_BASE_URL": emulator.base_url,
            "HUBSPOT_CONNECT_TIMEOUT_SECONDS": "1",
            "HUBSPOT_READ_TIMEOUT_SECONDS": "2",
            "DEAD_LETTER_QUEUE_URL": dlq_url,
            "RETRY_BACKOFF_BASE_SECONDS": "0",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }.items():
            monkeypatch.setenv(name, value)
        yield OpsStack(sqs, emulator, queue_url, queue_arn, dlq_url)
