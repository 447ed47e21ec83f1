"""The dead-letter tool's I/O: find the queues, read the DLQ without consuming it, send and delete."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

# Every client uses the standard credential chain and AWS_ENDPOINT_URL* (a local moto stack).
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
QUEUE_OUTPUT = "SubscriptionQueueUrl"
DLQ_OUTPUT = "SubscriptionDeadLetterQueueUrl"


class QueueNotFound(RuntimeError):
    """The stack or its outputs do not name the queues."""


@dataclass(frozen=True)
class Queues:
    dlq_url: str
    queue_url: str | None


def clients(region: str | None) -> tuple[Any, Any]:
    """(sqs, cloudformation) clients."""
    session = boto3.session.Session(region_name=region)
    return session.client("sqs", config=CLIENT_CONFIG), session.client("cloudformation", config=CLIENT_CONFIG)


def resolve(cloudformation: Any, stack: str | None, dlq_url: str | None, queue_url: str | None) -> Queues:
    """The DLQ and main queue: given directly, or read from the stack's outputs (the template's
    SubscriptionDeadLetterQueueUrl and SubscriptionQueueUrl)."""
    if stack:
        try:
            described = cloudformation.describe_stacks(StackName=stack)["Stacks"]
        except Exception as error:
            raise QueueNotFound(f"cannot describe stack {stack!r}: {error}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in (described[0].get("Outputs") or [])}
        if DLQ_OUTPUT not in outputs:
            raise QueueNotFound(f"stack {stack!r} has no output {DLQ_OUTPUT}")
        dlq_url = dlq_url or outputs[DLQ_OUTPUT]
        queue_url = queue_url or outputs.get(QUEUE_OUTPUT)
    if not dlq_url:
        raise QueueNotFound("name the dead-letter queue: --stack NAME or --dlq-url URL")
    return Queues(dlq_url=dlq_url, queue_url=queue_url)


def read_all(sqs: Any, queue_url: str, hold_s: int, limit: int) -> list[dict[str, Any]]:
    """Receive up to ``limit`` messages, each hidden for ``hold_s`` seconds so none is read twice;
    nothing is deleted. Stops at the first empty receive."""
    found: dict[str, dict[str, Any]] = {}
    while len(found) < limit:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(found)),
            VisibilityTimeout=hold_s,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = answer.get("Messages", [])
        if not batch:
            break
        for message in batch:
            found.setdefault(message["MessageId"], message)
    return list(found.values())


def release(sqs: Any, queue_url: str, receipt_handles: Sequence[str]) -> None:
    """Make read messages visible again at once (best effort: otherwise they return after hold_s)."""
    for start in range(0, len(receipt_handles), 10):
        entries = [
            {"Id": f"v{index}", "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for index, handle in enumerate(receipt_handles[start : start + 10])
        ]
        with contextlib.suppress(Exception):  # best effort: they reappear when hold_s ends
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def send(sqs: Any, queue_url: str, entries: Sequence[dict[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """Send entries in batches of 10: (ids SQS accepted, {id: why} for those it did not)."""
    sent: set[str] = set()
    failed: dict[str, str] = {}
    for start in range(0, len(entries), 10):
        batch = list(entries[start : start + 10])
        try:
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)
        except Exception as error:
            failed.update({entry["Id"]: type(error).__name__ for entry in batch})
            continue
        sent.update(item["Id"] for item in answer.get("Successful", []))
        failed.update({item["Id"]: item.get("Code", "refused") for item in answer.get("Failed", [])})
    return sent, failed


def delete(sqs: Any, queue_url: str, receipt_handles: Sequence[str]) -> int:
    """Delete these messages; return how many SQS confirmed."""
    deleted = 0
    for start in range(0, len(receipt_handles), 10):
        entries = [
            {"Id": f"d{index}", "ReceiptHandle": handle}
            for index, handle in enumerate(receipt_handles[start : start + 10])
        ]
        answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        deleted += len(answer.get("Successful", []))
    return deleted
