"""Settle the records that did not apply: permanent failures to the DLQ (or back to SQS when that
fails), FIFO groups held back behind a failure, records on their queue's last receive to the DLQ with
their last failure, and a backoff for every record that comes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from status_writer.backoff import failure_delay_s
from status_writer.config import Settings
from status_writer.model import Failure, FailureCategory, Message, Outcome
from status_writer.respond import hold_back_fifo_groups, last_receives
from status_writer.runtime import Invocation


def settle(
    messages: Sequence[Message],
    outcomes: dict[str, Outcome],
    failures: dict[str, Failure],
    invocation: Invocation,
) -> dict[str, Outcome]:
    """The final outcome of every record; ``failures`` gains the DLQ's own failures. Both SQS steps run
    within the invocation's deadline; what is not settled in time comes back."""
    runtime, deadline = invocation.runtime, invocation.call.deadline
    for message_id, failure in failures.items():
        outcomes[message_id] = Outcome.DEAD_LETTERED if failure.permanent else Outcome.RETRYABLE
    outcomes = hold_back_fifo_groups(messages, outcomes)
    exhausted = last_receives(messages, outcomes, failures, runtime.settings.max_receive_count)
    for message_id, failure in exhausted.items():
        outcomes[message_id], failures[message_id] = Outcome.DEAD_LETTERED, failure
    to_dead_letter = [
        (message, failures[message.message_id])
        for message in messages
        if outcomes.get(message.message_id) is Outcome.DEAD_LETTERED
    ]
    accepted = runtime.dead_letters.send(to_dead_letter, deadline=deadline)
    reason = (
        "no dead-letter queue configured"
        if runtime.settings.dead_letter_queue_url is None
        else "DLQ refused it"
    )
    for message, failure in to_dead_letter:
        if message.message_id not in accepted:
            outcomes[message.message_id] = Outcome.RETRYABLE
            failures[message.message_id] = Failure(
                FailureCategory.DEAD_LETTER_UNAVAILABLE, f"{reason}; was: {failure.detail}", permanent=False
            )
    outcomes = hold_back_fifo_groups(messages, outcomes)
    delays = [
        (message, _delay(message, failures.get(message.message_id), runtime.settings))
        for message in messages
        if outcomes.get(message.message_id, Outcome.RETRYABLE) is Outcome.RETRYABLE
    ]
    if delays:
        runtime.visibility.postpone(delays, deadline=deadline)
    return outcomes


def _delay(message: Message, failure: Failure | None, settings: Settings) -> int:
    """The backoff for a record's receive count and failure (``backoff.failure_delay_s``)."""
    return failure_delay_s(
        message.receive_count,
        failure,
        settings.backoff_base_s,
        settings.backoff_max_s,
        settings.daily_retry_s,
    )


def failure_of(
    outcomes: Mapping[str, Outcome], failures: Mapping[str, Failure], message_id: str
) -> Failure | None:
    """The failure behind a record that did not apply (None for applied and superseded ones)."""
    if outcomes.get(message_id) in (Outcome.APPLIED, Outcome.SUPERSEDED):
        return None
    return failures.get(message_id)
