"""The checker's rule for ties the function cannot order: two newest updates of one key with the same
occurredAt-or-SentTimestamp and SentTimestamp, settled in different invocations, may leave either
status; every order the function can know is still enforced."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from local.workload.verify import Observed, function_version, verify_state
from local.workload.workload import Key, WorkItem, classify

ADA = ("ada@example.com", 1001, "EMAIL")
GRACE = ("grace@example.com", 1001, "EMAIL")
SENT = 1_795_684_800_000  # ms
BATCH_A = (10.0, 11.0)
BATCH_B = (12.0, 13.0)


def update(
    email: str, state: str, message_id: str, sequence: int, occurred_at: str | None = None
) -> WorkItem:
    body: dict[str, Any] = {"subscriberIdString": email, "subscriptionId": 1001, "statusState": state}
    if occurred_at is not None:
        body["occurredAt"] = occurred_at
    text = json.dumps(body)
    return WorkItem(body=text, expectation=classify(text), message_id=message_id, sequence=sequence)


def hubspot(statuses: dict[Key, str]) -> Any:
    def lookup(keys: Sequence[Key]) -> dict[Key, Observed]:
        return {key: Observed(statuses.get(key)) for key in keys}

    return lookup


def test_a_tie_across_batches_is_accepted_at_the_update_the_workload_sent_first() -> None:
    # GIVEN two updates of one key without occurredAt, the same SentTimestamp, in different batches
    items = [
        update("ada@example.com", "SUBSCRIBED", "m1", 0),
        update("ada@example.com", "UNSUBSCRIBED", "m2", 1),
    ]
    sent = {"m1": SENT, "m2": SENT}
    # WHEN HubSpot holds the status of the one the oracle calls older
    result = verify_state(items, hubspot({ADA: "SUBSCRIBED"}), {"m1": BATCH_A, "m2": BATCH_B}, sent_ms=sent)
    # THEN the key passes, and is counted as a tie accepted either way
    assert (result.checked, result.mismatches, result.ties_accepted) == (1, [], 1)


def test_a_tie_at_the_oracles_newest_is_a_plain_pass() -> None:
    items = [
        update("ada@example.com", "SUBSCRIBED", "m1", 0),
        update("ada@example.com", "UNSUBSCRIBED", "m2", 1),
    ]
    result = verify_state(
        items,
        hubspot({ADA: "UNSUBSCRIBED"}),
        {"m1": BATCH_A, "m2": BATCH_B},
        sent_ms={"m1": SENT, "m2": SENT},
    )
    assert (result.mismatches, result.ties_accepted) == ([], 0)


def test_a_tie_within_one_batch_is_ordered_by_position_and_still_fails_when_wrong() -> None:
    # GIVEN the same tie, but both updates in one invocation (position in the batch decides)
    items = [
        update("ada@example.com", "SUBSCRIBED", "m1", 0),
        update("ada@example.com", "UNSUBSCRIBED", "m2", 1),
    ]
    result = verify_state(
        items, hubspot({ADA: "SUBSCRIBED"}), {"m1": BATCH_A, "m2": BATCH_A}, sent_ms={"m1": SENT, "m2": SENT}
    )
    # THEN the older status is a mismatch
    assert [m.key for m in result.mismatches] == [ADA]
    assert result.ties_accepted == 0


def test_one_millisecond_apart_is_an_order_the_function_knows() -> None:
    # GIVEN SentTimestamps 1 ms apart, in different batches
    items = [
        update("ada@example.com", "UNSUBSCRIBED", "m1", 0),
        update("ada@example.com", "SUBSCRIBED", "m2", 1),
    ]
    result = verify_state(
        items,
        hubspot({ADA: "UNSUBSCRIBED"}),
        {"m1": BATCH_A, "m2": BATCH_B},
        sent_ms={"m1": SENT, "m2": SENT + 1},
    )
    # THEN HubSpot at the earlier one fails
    assert [(m.expected, m.actual) for m in result.mismatches] == [("SUBSCRIBED", "UNSUBSCRIBED")]
    assert result.ties_accepted == 0


def test_occurred_at_orders_updates_with_the_same_sent_timestamp() -> None:
    # GIVEN the same SentTimestamp, different batches, but occurredAt one second apart
    items = [
        update("ada@example.com", "SUBSCRIBED", "m1", 1, occurred_at="2026-11-28T10:00:01Z"),
        update("ada@example.com", "UNSUBSCRIBED", "m2", 0, occurred_at="2026-11-28T10:00:02Z"),
    ]
    result = verify_state(
        items, hubspot({ADA: "SUBSCRIBED"}), {"m1": BATCH_A, "m2": BATCH_B}, sent_ms={"m1": SENT, "m2": SENT}
    )
    assert [m.expected for m in result.mismatches] == ["UNSUBSCRIBED"]
    assert result.ties_accepted == 0


def test_a_tie_does_not_accept_a_status_neither_update_has() -> None:
    items = [
        update("ada@example.com", "SUBSCRIBED", "m1", 0),
        update("ada@example.com", "UNSUBSCRIBED", "m2", 1),
    ]
    result = verify_state(
        items,
        hubspot({ADA: "NOT_SPECIFIED"}),
        {"m1": BATCH_A, "m2": BATCH_B},
        sent_ms={"m1": SENT, "m2": SENT},
    )
    assert [m.actual for m in result.mismatches] == ["NOT_SPECIFIED"]


def test_only_the_tied_key_is_accepted_and_every_other_key_still_fails() -> None:
    # GIVEN a tied key and an ordered key, both held at their older update
    items = [
        update("ada@example.com", "SUBSCRIBED", "a1", 0),
        update("ada@example.com", "UNSUBSCRIBED", "a2", 1),
        update("grace@example.com", "SUBSCRIBED", "g1", 2),
        update("grace@example.com", "UNSUBSCRIBED", "g2", 3),
    ]
    sent = {"a1": SENT, "a2": SENT, "g1": SENT, "g2": SENT + 5}
    windows = {"a1": BATCH_A, "a2": BATCH_B, "g1": BATCH_A, "g2": BATCH_B}
    result = verify_state(items, hubspot({ADA: "SUBSCRIBED", GRACE: "SUBSCRIBED"}), windows, sent_ms=sent)
    # THEN only the ordered key fails
    assert [m.key for m in result.mismatches] == [GRACE]
    assert result.ties_accepted == 1


def test_every_key_wrong_and_none_tied_fails_them_all() -> None:
    items = [
        update("ada@example.com", "SUBSCRIBED", "a1", 0),
        update("ada@example.com", "UNSUBSCRIBED", "a2", 1),
        update("grace@example.com", "SUBSCRIBED", "g1", 2),
        update("grace@example.com", "UNSUBSCRIBED", "g2", 3),
    ]
    sent = {"a1": SENT, "a2": SENT + 1, "g1": SENT + 2, "g2": SENT + 3}
    windows = {"a1": BATCH_A, "a2": BATCH_B, "g1": BATCH_A, "g2": BATCH_B}
    result = verify_state(items, hubspot({ADA: "SUBSCRIBED", GRACE: "SUBSCRIBED"}), windows, sent_ms=sent)
    assert sorted(m.key for m in result.mismatches) == [ADA, GRACE]
    assert result.ties_accepted == 0


def test_the_function_version_falls_back_to_the_send_time_when_sqs_s_stamp_is_unknown() -> None:
    item = update("ada@example.com", "SUBSCRIBED", "m1", 0)
    item.sent_at = SENT / 1000
    assert function_version(item, {}) == (SENT * 1000, SENT)
    assert function_version(item, {"m1": SENT + 7}) == ((SENT + 7) * 1000, SENT + 7)
