"""respond: the partial batch response SQS reads, FIFO hold-back, and the records on their last receive."""

from __future__ import annotations

import json
from dataclasses import replace

from status_writer.model import Failure, FailureCategory, Message, Outcome
from status_writer.respond import batch_response, hold_back_fifo_groups, last_receives

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


# --- last receives ----------------------------------------------------------------------------------

REFUSED = Failure(FailureCategory.AUTHENTICATION, "HubSpot refused the token (401)", permanent=False)


def received(count: int, *receive_counts: int) -> list[Message]:
    """``count`` messages of a standard queue; the first ones received as often as given, the rest once."""
    counts = list(receive_counts) + [1] * (count - len(receive_counts))
    return [replace(message, receive_count=n) for message, n in zip(standard(count), counts, strict=True)]


def test_a_record_that_would_come_back_from_its_last_receive_goes_with_its_last_failure() -> None:
    # GIVEN a queue that redrives after 10 receives; m-0 on its 10th, m-1 on its 9th, both refused
    messages = received(2, 10, 9)
    failures = {"m-0": REFUSED, "m-1": REFUSED}
    # WHEN the last receives are judged
    exhausted = last_receives(messages, {"m-0": R, "m-1": R}, failures, 10)
    # THEN only m-0 goes, for good, and its reason names the receive and the failure it kept meeting
    assert list(exhausted) == ["m-0"]
    assert exhausted["m-0"].category is FailureCategory.RECEIVES_EXHAUSTED
    assert exhausted["m-0"].permanent
    assert exhausted["m-0"].detail == (
        "receive 10 of maxReceiveCount 10; last: AUTHENTICATION: HubSpot refused the token (401)"
    )


def test_a_receive_count_past_the_queues_counts_as_its_last() -> None:
    # GIVEN an approximate count above maxReceiveCount (the queue's count was lowered meanwhile)
    exhausted = last_receives(received(1, 12), {"m-0": R}, {"m-0": REFUSED}, 10)
    # THEN it is its last receive too
    assert list(exhausted) == ["m-0"]


def test_only_records_that_would_come_back_are_judged() -> None:
    # GIVEN four records on their last receive: applied, superseded, dead-lettered, retryable
    messages = received(4, 5, 5, 5, 5)
    outcomes = {"m-0": A, "m-1": S, "m-2": D, "m-3": R}
    # WHEN judged THEN only the retryable one is exhausted; the others keep their outcome
    assert list(last_receives(messages, outcomes, {"m-3": REFUSED}, 5)) == ["m-3"]


def test_a_record_without_an_outcome_on_its_last_receive_says_so() -> None:
    # GIVEN no outcome and no failure recorded (it would be reported retryable)
    exhausted = last_receives(received(1, 3), {}, {}, 3)
    assert exhausted["m-0"].detail == "receive 3 of maxReceiveCount 3; last: no outcome recorded"


def test_all_records_on_their_last_receive_all_go() -> None:
    # GIVEN every record of a batch refused on its last receive THEN every one is exhausted
    messages = received(4, 2, 2, 2, 2)
    outcomes = {m.message_id: R for m in messages}
    assert sorted(last_receives(messages, outcomes, {}, 2)) == ["m-0", "m-1", "m-2", "m-3"]


def test_without_a_known_max_receive_count_nothing_is_exhausted() -> None:
    # GIVEN MAX_RECEIVE_COUNT unset THEN SQS's redrive stays the only way to the DLQ for them
    assert last_receives(received(1, 1000), {"m-0": R}, {"m-0": REFUSED}, None) == {}
