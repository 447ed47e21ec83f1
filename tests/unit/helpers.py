"""Small builders for the unit tests: deterministic ids and timestamps, nothing random."""

from __future__ import annotations

from typing import Any

from status_writer.model import Message, StatusUpdate
from status_writer.parse import message_from_record, parse_message

from tests.factories import sqs_record, status_body

SENT_MS = 1_767_607_200_000  # 2026-01-05T10:00:00Z


def message(
    body: dict[str, Any] | str,
    *,
    message_id: str = "m-0",
    position: int = 0,
    sent_timestamp_ms: int = SENT_MS,
    receive_count: int = 1,
    group_id: str | None = None,
) -> Message:
    """A Message as the pipeline builds it from a Lambda SQS record."""
    record = sqs_record(
        body,
        message_id=message_id,
        sent_timestamp_ms=sent_timestamp_ms,
        receive_count=receive_count,
        group_id=group_id,
    )
    return message_from_record(record, position)


FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:subscription-updates.fifo"


def bare_message(
    message_id: str, position: int = 0, group_id: str | None = None, source_arn: str = FIFO_ARN
) -> Message:
    """A Message whose body does not matter (respond tests); from a FIFO queue unless told."""
    return Message(
        message_id=message_id, position=position, body="{}", group_id=group_id, source_arn=source_arn
    )


def update(
    email: str = "ada@example.com",
    subscription_id: int = 1001,
    *,
    message_id: str = "m-0",
    position: int = 0,
    sent_timestamp_ms: int = SENT_MS,
    occurred_at: str | None = None,
    state: str = "SUBSCRIBED",
) -> StatusUpdate:
    """A StatusUpdate that went through the real parser."""
    extra: dict[str, Any] = {} if occurred_at is None else {"occurredAt": occurred_at}
    parsed = parse_message(
        message(
            status_body(email, subscription_id, state, **extra),
            message_id=message_id,
            position=position,
            sent_timestamp_ms=sent_timestamp_ms,
        )
    )
    assert isinstance(parsed, StatusUpdate), parsed
    return parsed


def updates(count: int, subscription_id: int = 1001) -> list[StatusUpdate]:
    """``count`` updates for distinct contacts, message ids m-0, m-1, ..."""
    return [
        update(f"user{index}@example.com", subscription_id, message_id=f"m-{index}", position=index)
        for index in range(count)
    ]


def result_for(item: StatusUpdate, **override: Any) -> dict[str, Any]:
    """The PublicStatus HubSpot returns for an applied input."""
    result: dict[str, Any] = {
        "subscriberIdString": item.email,
        "subscriptionId": item.subscription_id,
        "channel": item.channel,
        "status": item.status_state,
        "source": "Public API",
        "timestamp": "2026-01-05T10:00:00.100Z",
        "setStatusSuccessReason": "REQUESTED_CHANGE_OCCURRED",
    }
    result.update(override)
    return result


def standard_error(
    category: str = "VALIDATION_ERROR",
    message: str = "Subscription does not exist",
    context: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """A per-item StandardError as batch/write returns it in errors[]."""
    error: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": {} if context is None else context,
        "errors": [],
        "links": {},
    }
    error.update(extra)
    return error


def batch_body(
    results: list[Any] | None = None, errors: list[Any] | None = None, status: str = "COMPLETE"
) -> dict[str, Any]:
    """A BatchResponsePublicStatus body."""
    body: dict[str, Any] = {
        "status": status,
        "startedAt": "2026-01-05T10:00:00.010Z",
        "completedAt": "2026-01-05T10:00:00.120Z",
        "results": [] if results is None else results,
    }
    if errors is not None:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return body
