"""Helpers shared by the tests in tests/local (imported as `local_helpers`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.aws.event_source import SqsEventSource

HANDLERS = Path(__file__).resolve().parent / "handlers"


def send(sqs: Any, url: str, *bodies: Any, **extra: Any) -> list[str]:
    """Send bodies (dicts become JSON) in calls of 10; returns the message ids in order."""
    ids: list[str] = []
    texts = [b if isinstance(b, str) else json.dumps(b) for b in bodies]
    for start in range(0, len(texts), 10):
        entries = [
            {"Id": str(i), "MessageBody": text, **extra} for i, text in enumerate(texts[start : start + 10])
        ]
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed")
        ids += [ok["MessageId"] for ok in sorted(response["Successful"], key=lambda ok: int(ok["Id"]))]
    return ids


def depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, not visible) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def probes(source: SqsEventSource) -> list[dict[str, Any]]:
    """The probe log records of every invocation, in invocation order."""
    return [
        record
        for invocation in sorted(source.invocations, key=lambda i: i.started)
        for record in invocation.result.log_records
        if record.get("message") == "probe"
    ]
