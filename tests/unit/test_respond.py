"""respond: the partial batch response SQS reads, and FIFO hold-back."""

from __future__ import annotations

import json

from status_writer.model import Message, Outcome
from status_writer.respond import batch_response, hold_back_fifo_groups

from tests.unit.helpers import bare_message

A, S, D, R = Outcome.APPLIED, Outcome.SUPERSEDED, Outcome.DEAD_LETTERED, Outcome.RETRYABLE


def listed(response: dict[str, list[dict[str, str]]]) -> list[str]:
    return [entry["itemIdentifier"] for entry in response["batchItemFailures"]]


def standard(count: int) -> list[Message]:
    return [bare_message(f"m-{index}", index) for index in range(count)]


# --- batch_response ---------------------------------------------------------------------------------


def test_response_uses_the_exact_key_names_sqs_expects() -> None:
    # GIVEN one retryable message WHEN the response is built THEN its JSON is exactly SQS's shape
    response = batch_response(standard(2), {"m-0": A, "m-1": R})
    assert json.dumps(response) == '{"batchItemFailures": [{"itemIdentifier": "m-1"}]}'


def test_only_retryable_messages_are_listed_in_message_order() -> None:
    # GIVEN one message per outcome, twice over
    messages = standard(8)
    outcomes = {f"m-{index}": [A, S, D, R][index % 4] for index in range(8)}
    # WHEN the response is built THEN exactly the retryable ones are listed, in order
    assert listed(batch_response(messages, outcomes)) == ["m-3", "m-7"]


def test_nothing_failed_gives_an_empty_list_not_a_missing_key() -> None:
    assert batch_response(standard(3), {"m-0": A, "m-1": S, "m-2": D}) == {"batchItemFailures": []}
    assert batch_response([], {}) == {"batchItemFailures": []}


def test_a_message_without_an_outcome_counts_as_retryable() -> None:
    # GIVEN no outcome was recorded for m-1 WHEN the response is built THEN it is reported, never deleted
    assert listed(batch_response(standard(3), {"m-0": A, "m-2": A})) == ["m-1"]


def test_all_messages_failing_are_all_listed() -> None:
    messages = standard(10)
    assert listed(batch_response(messages, {m.message_id: R for m in messages})) == [
        f"m-{i}" for i in range(10)
    ]
    assert listed(batch_response(messages, {})) == [f"m-{i}" for i in range(10)]


def test_outcomes_for_messages_not_in_the_batch_are_not_listed() -> None:
    assert listed(batch_response(standard(1), {"m-0": A, "stranger": R})) == []


# --- FIFO hold-back ---------------------------------------------------------------------------------


def fifo(*groups: str) -> list[Message]:
    return [bare_message(f"m-{index}", index, group) for index, group in enumerate(groups)]


def test_later_messages_of_a_failed_group_are_held_back_and_other_groups_untouched() -> None:
    # GIVEN groups g1 and g2 interleaved; g1's second message failed
    messages = fifo("g1", "g2", "g1", "g2", "g1", "g2")
    outcomes = {"m-0": A, "m-1": A, "m-2": R, "m-3": A, "m-4": A, "m-5": D}
    # WHEN held back
    adjusted = hold_back_fifo_groups(messages, outcomes)
    # THEN g1's messages after the failure come back too; g1's earlier one and all of g2 keep their outcomes
    assert adjusted == {"m-0": A, "m-1": A, "m-2": R, "m-3": A, "m-4": R, "m-5": D}
    assert listed(batch_response(messages, adjusted)) == ["m-2", "m-4"]


def test_first_message_failing_holds_back_its_whole_group() -> None:
    messages = fifo("g", "g", "g")
    adjusted = hold_back_fifo_groups(messages, {"m-0": R, "m-1": A, "m-2": S})
    assert adjusted == {"m-0": R, "m-1": R, "m-2": R}


def test_a_later_would_be_dead_letter_is_held_back_not_dead_lettered() -> None:
    # GIVEN a failed message and, later in its group, one that would go to the DLQ
    messages = fifo("g", "g")
    adjusted = hold_back_fifo_groups(messages, {"m-0": R, "m-1": D})
    # THEN the later one comes back (so it is dead-lettered at most once, later, in order)
    assert adjusted == {"m-0": R, "m-1": R}


def test_on_a_standard_queue_a_message_group_is_a_fair_queue_tenant_and_nothing_is_held_back() -> None:
    # GIVEN a standard (fair) queue whose messages carry MessageGroupId; the group's first one failed
    standard = "arn:aws:sqs:us-east-1:123456789012:subscription-updates"
    messages = [bare_message(f"m-{i}", i, "portal-7", source_arn=standard) for i in range(3)]
    # WHEN held back
    adjusted = hold_back_fifo_groups(messages, {"m-0": R, "m-1": A, "m-2": D})
    # THEN only the failed message comes back: the applied one is not re-sent, the DLQ one goes on
    assert adjusted == {"m-0": R, "m-1": A, "m-2": D}
    assert listed(batch_response(messages, adjusted)) == ["m-0"]


def test_a_dead_letter_before_the_failure_keeps_its_outcome() -> None:
    adjusted = hold_back_fifo_groups(fifo("g", "g", "g"), {"m-0": D, "m-1": R, "m-2": A})
    assert adjusted == {"m-0": D, "m-1": R, "m-2": R}


def test_a_message_without_an_outcome_holds_back_its_group_like_a_failure() -> None:
    # GIVEN no outcome was recorded for the first message of g (batch_response will report it)
    messages = fifo("g", "g", "h")
    adjusted = hold_back_fifo_groups(messages, {"m-1": A, "m-2": A})
    # THEN the later message of g must come back too, or SQS would see g's order broken
    assert listed(batch_response(messages, adjusted)) == ["m-0", "m-1"]


def test_standard_queue_messages_are_never_held_back() -> None:
    messages = standard(3)
    outcomes = {"m-0": R, "m-1": A, "m-2": D}
    assert hold_back_fifo_groups(messages, outcomes) == outcomes


def test_hold_back_does_not_change_its_input() -> None:
    outcomes = {"m-0": R, "m-1": A}
    hold_back_fifo_groups(fifo("g", "g"), outcomes)
    assert outcomes == {"m-0": R, "m-1": A}


def test_fifo_all_fail_lists_every_message() -> None:
    messages = fifo("g1", "g2", "g1", "g2")
    adjusted = hold_back_fifo_groups(messages, {m.message_id: R for m in messages})
    assert listed(batch_response(messages, adjusted)) == ["m-0", "m-1", "m-2", "m-3"]


def test_nothing_failed_nothing_changes() -> None:
    messages = fifo("g1", "g1", "g2")
    outcomes = {"m-0": A, "m-1": S, "m-2": D}
    assert hold_back_fifo_groups(messages, outcomes) == outcomes
