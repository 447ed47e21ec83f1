"""Turn per-message outcomes into the partial batch response SQS expects. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

from status_writer.model import Failure, FailureCategory, Message, Outcome


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    """What the handler returns to the SQS event source mapping (ReportBatchItemFailures)."""

    batchItemFailures: list[ItemFailure]


def hold_back_fifo_groups(messages: Sequence[Message], outcomes: Mapping[str, Outcome]) -> dict[str, Outcome]:
    """On a FIFO queue, every message after a retryable failure in its group must come back too.

    SQS keeps a group's order only if nothing later in the group is deleted before the failed message
    succeeds. Later messages that would otherwise be dead-lettered are held back as well, so a message
    is never dead-lettered twice. Only a ``.fifo`` source queue has such groups: on a standard queue a
    ``MessageGroupId`` is a fair-queue tenant key (README: Many portals) and changes nothing here.
    """
    adjusted = dict(outcomes)
    failed_groups: set[str] = set()
    for message in messages:
        group = message.group_id
        if group is None or not message.source_arn.endswith(".fifo"):
            continue
        if group in failed_groups:
            adjusted[message.message_id] = Outcome.RETRYABLE
        elif adjusted.get(message.message_id, Outcome.RETRYABLE) is Outcome.RETRYABLE:
            failed_groups.add(group)  # no recorded outcome is reported (batch_response), so it counts
    return adjusted


def last_receives(
    messages: Sequence[Message],
    outcomes: Mapping[str, Outcome],
    failures: Mapping[str, Failure],
    max_receive_count: int | None,
) -> dict[str, Failure]:
    """The records that would come back from their queue's last receive, each with why it goes to the DLQ.

    SQS moves such a record to the DLQ at its next receive with only ``maxReceiveCount`` for a reason;
    dead-lettered now, it carries its last failure (README: Outcomes). Unknown ``max_receive_count``:
    none.
    """
    if max_receive_count is None:
        return {}
    exhausted: dict[str, Failure] = {}
    for message in messages:
        if message.receive_count < max_receive_count:
            continue
        if outcomes.get(message.message_id, Outcome.RETRYABLE) is not Outcome.RETRYABLE:
            continue
        last = failures.get(message.message_id)
        cause = "no outcome recorded" if last is None else f"{last.category.value}: {last.detail}"
        exhausted[message.message_id] = Failure(
            FailureCategory.RECEIVES_EXHAUSTED,
            f"receive {message.receive_count} of maxReceiveCount {max_receive_count}; last: {cause}",
            permanent=True,
        )
    return exhausted


def batch_response(messages: Sequence[Message], outcomes: Mapping[str, Outcome]) -> PartialBatchResponse:
    """``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` for exactly the retryable messages.

    A message with no recorded outcome is reported too: nothing is deleted that was not handled.
    Each is reported by its SQS id (``Message.sqs_message_id``: ``identity`` may have made its
    ``message_id`` unique); an SQS id shared by several records is reported once, if any of them must
    come back.
    """
    failures: list[ItemFailure] = []
    listed: set[str] = set()
    for message in messages:
        if outcomes.get(message.message_id, Outcome.RETRYABLE) is not Outcome.RETRYABLE:
            continue
        identifier = message.sqs_message_id
        if identifier not in listed:
            listed.add(identifier)
            failures.append({"itemIdentifier": identifier})
    return {"batchItemFailures": failures}
