"""Record, event and context factories shared by the tests (Powertools' batch tests use the same style)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from local.aws.context import LambdaContext  # the one context (README, Local tooling)

__all__ = ["LambdaContext"]

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:subscription-updates"


def status_body(
    email: str = "ada@example.com",
    subscription_id: int | str = 1001,
    state: str = "SUBSCRIBED",
    **extra: Any,
) -> dict[str, Any]:
    """A valid status-update message body; keyword arguments add or override fields."""
    body: dict[str, Any] = {
        "subscriberIdString": email,
        "subscriptionId": subscription_id,
        "statusState": state,
    }
    body.update(extra)
    return body


def sqs_record(
    body: dict[str, Any] | str,
    *,
    message_id: str | None = None,
    sent_timestamp_ms: int | None = None,
    receive_count: int = 1,
    group_id: str | None = None,
    queue_arn: str = QUEUE_ARN,
) -> dict[str, Any]:
    """One record exactly as Lambda's SQS event source mapping delivers it."""
    raw = body if isinstance(body, str) else json.dumps(body)
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(sent_timestamp_ms if sent_timestamp_ms is not None else int(time.time() * 1000)),
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
    }
    if group_id is not None:
        attributes["MessageGroupId"] = group_id
        attributes["SequenceNumber"] = str(uuid.uuid4().int)[:20]
        attributes["MessageDeduplicationId"] = uuid.uuid4().hex
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"handle-{uuid.uuid4().hex}",
        "body": raw,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """An SQS event around the given records."""
    return {"Records": list(records)}


def unsubscribe_all_body(
    email: str = "ada@example.com", business_unit_id: int | None = None, **extra: Any
) -> dict[str, Any]:
    """A valid unsubscribe-from-all message body (portal-wide unless a brand is given)."""
    body: dict[str, Any] = {"action": "UNSUBSCRIBE_ALL", "subscriberIdString": email, "channel": "EMAIL"}
    if business_unit_id is not None:
        body["businessUnitId"] = business_unit_id
    body.update(extra)
    return body
