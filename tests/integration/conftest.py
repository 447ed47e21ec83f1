"""Integration harness: the real handler, HubSpot as the project's emulator over loopback HTTP, SQS
and Secrets Manager as moto server reached by real boto3 clients through AWS_ENDPOINT_URL*. The queue,
its DLQ with the redrive policy and the secret are provisioned from template.yaml by the local stack
(local.aws.stack), as `make run` provisions them."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest

from local.aws import sqs_event
from local.aws.queues import read_dead_letters
from local.aws.stack import REGION, LocalAws
from local.hubspot_emulator import running_emulator

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
ACCOUNT = "123456789012"


@dataclass
class Stack:
    """One test's world: queues, the secret, the emulator and the environment the handler reads."""

    sqs: Any
    secrets: Any
    emulator: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    secret_id: str
    env: dict[str, str] = field(default_factory=dict)

    def send(self, *bodies: dict[str, Any] | str, group_id: str | None = None) -> None:
        for body in bodies:
            raw = body if isinstance(body, str) else json.dumps(body)
            extra = (
                {"MessageGroupId": group_id, "MessageDeduplicationId": uuid.uuid4().hex} if group_id else {}
            )
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=raw, **extra)

    def receive_event(self, expected: int) -> dict[str, Any]:
        """Receive `expected` messages and shape them exactly as Lambda's event source mapping does."""
        records: list[dict[str, Any]] = []
        while len(records) < expected:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, expected - len(records)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=1,
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            records.extend(lambda_record(message, self.queue_arn) for message in messages)
        assert len(records) == expected, f"received {len(records)} of {expected} messages"
        return {"Records": records}

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every DLQ message, read once with the project's one dead-letter reader."""
        return read_dead_letters(self.sqs, self.dlq_url, empty_polls=1).messages

    def queue_counts(self) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def put_secret(self, value: dict[str, Any] | str) -> None:
        raw = value if isinstance(value, str) else json.dumps(value)
        self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=raw)


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS ReceiveMessage result in the Lambda event's record shape (the local event source's)."""
    return sqs_event.lambda_record(message, queue_arn, REGION)


@pytest.fixture
def stack(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Queue + DLQ + secret in moto as the template declares them, an emulator with one private-app
    token, and the function's env."""
    provisioned = LocalAws.at(aws).provision(token=TOKEN, tables=False).provisioned
    sqs = boto3.client("sqs")
    secrets = boto3.client("secretsmanager")
    queue, dlq = provisioned.queues[0], provisioned.dead_letter_queue
    # The tests' own pace on top of the template's queue: a message listed as failed is back after 1 s
    # (not the template's visibility timeout) and is redriven only after 10 receives.
    redrive = json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "10"})
    sqs.set_queue_attributes(
        QueueUrl=queue.url, Attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive}
    )
    queue_url, queue_arn, dlq_url, secret_id = queue.url, queue.arn, dlq.url, provisioned.secret_arn
    with running_emulator(tokens=[TOKEN]) as emulator:
        env = {
            "HUBSPOT_SECRET_ID": secret_id,
            "HUBSPOT_API_BASE_URL": emulator.base_url,
            "HUBSPOT_BATCH_LIMIT": "100",
            "HUBSPOT_MAX_IN_FLIGHT": "4",
            "HUBSPOT_CONNECT_TIMEOUT_SECONDS": "1",
            "HUBSPOT_READ_TIMEOUT_SECONDS": "2",
            # The write path's tests count and fault its calls: the freshness check's reads (the
            # template's default, README: Outcomes) are on in the tests that test them.
            "HUBSPOT_FRESHNESS_CHECK": "off",
            "DEAD_LETTER_QUEUE_URL": dlq_url,
            "RETRY_BACKOFF_BASE_SECONDS": "0",
            "RETRY_BACKOFF_MAX_SECONDS": "60",
            "MAX_RECEIVE_COUNT": "10",  # the redrive policy's above, as the template passes it on
            "POWERTOOLS_SERVICE_NAME": "hubspot-subscription-sync",
            "POWERTOOLS_METRICS_NAMESPACE": "HubSpotSubscriptionSync",
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
            "POWERTOOLS_PARAMETERS_MAX_AGE": "300",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Stack(sqs, secrets, emulator, queue_url, queue_arn, dlq_url, secret_id, env)


@pytest.fixture
def load_handler(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Import ``app`` afresh, as a new execution environment does (a cold start), with env overrides."""
    from aws_lambda_powertools.utilities import parameters

    loaded: list[ModuleType] = []

    def load(**overrides: str) -> ModuleType:
        for name, value in overrides.items():
            monkeypatch.setenv(name, value)
        parameters.clear_caches()
        sys.modules.pop("app", None)
        module = importlib.import_module("app")
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        runtime = getattr(module, "_runtime", None)
        if runtime is not None:
            runtime.executor.shutdown(wait=True)
            runtime.hubspot.close()
    sys.modules.pop("app", None)
