"""Settle the records that did not apply: permanent failures to the DLQ (or back to SQS when that
fails), FIFO groups held back behind a failure, and a backoff for every record that comes back."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from status_writer.backoff import retry_delay_s
from status_writer.config import Settings
from status_writer.model import Failure, FailureCategory, Message, Outcome
from status_writer.respond import hold_back_fifo_groups
from status_writer.runtime import Invocation

# A backoff set while the invocation still runs lasts this long past its end: SQS deletes what applied
# before the record could be received again.
PAST_THE_END_S = 10


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
    postponed = invocation.call.postponed
    delays = []
    for message in messages:
        if outcomes.get(message.message_id, Outcome.RETRYABLE) is not Outcome.RETRYABLE:
            continue
        seconds = _delay(message, failures.get(message.message_id), runtime.settings)
        earlier = postponed.get(message.message_id)  # set while its call waited, if it was
        if earlier is None or earlier < seconds:
            delays.append((message, seconds))
    if delays:
        runtime.visibility.postpone(delays, deadline=deadline)
    return outcomes


def postpone_while_waiting(invocation: Invocation, messages: Sequence[Message], wait_s: float) -> None:
    """Set the backoff of a call's records while the call waits ``wait_s`` for its slot (waits.py:
    ``long_free_wait``), as if they came back rate limited. Each lasts past the invocation's end, so a
    record that does apply meanwhile is deleted by SQS before it can be received again; the final
    settle sets it again only if its outcome asks for longer."""
    runtime, deadline = invocation.runtime, invocation.call.deadline
    failure = Failure(FailureCategory.RATE_LIMITED, "waiting for a rate-limit slot", False, math.ceil(wait_s))
    past_the_end = math.ceil(deadline.remaining_ms() / 1000) + PAST_THE_END_S
    delays = [
        (message, max(_delay(message, failure, runtime.settings), past_the_end))
        for message in messages
        if message.receipt_handle
    ]
    # One SQS call at a time, and no longer than the wait: the call's thread would only wait.
    accepted = runtime.visibility.postpone(delays, deadline=deadline, workers=1, within_s=wait_s)
    invocation.call.postponed.add(
        {m.message_id: seconds for m, seconds in delays if m.message_id in accepted}
    )


def _delay(message: Message, failure: Failure | None, settings: Settings) -> int:
    """The backoff for a record's receive count, never shorter than its failure asks for."""
    floor = None if failure is None else failure.retry_after_s
    if (
        failure is not None
        and failure.category is FailureCategory.DAILY_LIMIT
        and settings.daily_retry_s is not None
    ):
        floor = settings.daily_retry_s
    return retry_delay_s(message.receive_count, settings.backoff_base_s, settings.backoff_max_s, floor)


def failure_of(
    outcomes: Mapping[str, Outcome], failures: Mapping[str, Failure], message_id: str
) -> Failure | None:
    """The failure behind a record that did not apply (None for applied and superseded ones)."""
    if outcomes.get(message_id) in (Outcome.APPLIED, Outcome.SUPERSEDED):
        return None
    return failures.get(message_id)
