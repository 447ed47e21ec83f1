"""The final settle and the backoff set while a call waits (settle.py): what SQS is asked, and when it is
not asked again. SQS is a recording double of boto3's client; nothing of the function is replaced."""

from __future__ import annotations

from typing import Any

from status_writer.calls import CallContext
from status_writer.config import Settings
from status_writer.dead_letter import DeadLetterQueue
from status_writer.deadline import Deadline
from status_writer.model import Failure, FailureCategory, Message, Outcome
from status_writer.runtime import Invocation, Runtime
from status_writer.settle import PAST_THE_END_S, postpone_while_waiting, settle
from status_writer.visibility import VisibilityScheduler

from tests.factories import status_body
from tests.unit.helpers import message

RATE_LIMITED = Failure(FailureCategory.RATE_LIMITED, "no slot", permanent=False, retry_after_s=2)
DAILY = Failure(FailureCategory.DAILY_LIMIT, "daily limit", permanent=False, retry_after_s=7_200)


class RecordingSqs:
    """Accepts every visibility change and remembers it: (message id's receipt handle, seconds)."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, int]] = []

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.changes.extend((entry["ReceiptHandle"], entry["VisibilityTimeout"]) for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


class Clock:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def invocation(sqs: RecordingSqs, remaining_ms: int = 20_000) -> Invocation:
    """An invocation whose settle steps reach ``sqs``; settle needs no HubSpot client or executor."""
    runtime = Runtime(
        settings=Settings(secret_id="s", backoff_base_s=30),
        hubspot=None,  # type: ignore[arg-type]
        dead_letters=DeadLetterQueue(sqs, None),
        visibility=VisibilityScheduler(sqs),
        executor=None,  # type: ignore[arg-type]
    )
    return Invocation(runtime, CallContext(Deadline(Clock(remaining_ms), call_budget_ms=1_000)))


def records(count: int) -> list[Message]:
    return [message(status_body(f"r{n}@example.com"), message_id=f"m{n}") for n in range(count)]


def test_records_postponed_while_waiting_last_past_the_end_and_are_not_postponed_again() -> None:
    # GIVEN two records of a call that waited long for its slot, 40 s before the invocation's end
    sqs = RecordingSqs()
    run = invocation(sqs, remaining_ms=40_000)
    waited = records(2)
    # WHEN their backoff is set while the call waits, then both come back rate limited
    postpone_while_waiting(run, waited, wait_s=1.6)
    outcomes = settle(waited, {}, {m.message_id: RATE_LIMITED for m in waited}, run)
    # THEN SQS was asked once per record: not for the 30 s backoff, which would end before the
    # invocation does, but past the end
    assert sqs.changes == [(m.receipt_handle, 40 + PAST_THE_END_S) for m in waited]
    assert outcomes == {m.message_id: Outcome.RETRYABLE for m in waited}


def test_a_record_whose_outcome_asks_for_longer_is_postponed_again() -> None:
    # GIVEN a record postponed while it waited, whose retry then hit HubSpot's daily limit
    sqs = RecordingSqs()
    run = invocation(sqs)
    [record] = records(1)
    postpone_while_waiting(run, [record], wait_s=1.6)
    # WHEN the invocation settles THEN the daily limit's longer backoff is set too
    settle([record], {}, {record.message_id: DAILY}, run)
    assert [seconds for _, seconds in sqs.changes][-1] == 7_200
    assert len(sqs.changes) == 2


def test_records_that_applied_or_were_never_postponed_are_left_or_postponed_at_the_end() -> None:
    # GIVEN three records: one postponed while waiting that then applied, two that never waited
    sqs = RecordingSqs()
    run = invocation(sqs)
    applied, *others = records(3)
    postpone_while_waiting(run, [applied], wait_s=1.6)
    # WHEN the invocation settles with the first applied and the others rate limited
    outcomes = settle(
        [applied, *others],
        {applied.message_id: Outcome.APPLIED},
        {m.message_id: RATE_LIMITED for m in others},
        run,
    )
    # THEN the applied one is not touched again (SQS deletes it), the others get their backoff once
    assert outcomes[applied.message_id] is Outcome.APPLIED
    assert sqs.changes[1:] == [(m.receipt_handle, 30) for m in others]


def test_with_no_backoff_a_record_never_postponed_is_made_visible_at_once() -> None:
    # GIVEN no backoff (base 0) and a record that comes back without having waited
    sqs = RecordingSqs()
    run = invocation(sqs)
    run.runtime.settings = Settings(secret_id="s", backoff_base_s=0)
    [record] = records(1)
    # WHEN the invocation settles THEN SQS is asked for 0 s, not skipped
    settle([record], {}, {record.message_id: Failure(FailureCategory.NETWORK, "down", False)}, run)
    assert sqs.changes == [(record.receipt_handle, 0)]
