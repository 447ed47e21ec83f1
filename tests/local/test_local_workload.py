"""The generated workload and the oracle `make run` checks the handler against. Pure."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from local.workload.feeder import pack, shard_of, split_by_shard
from local.workload.workload import (
    APPLY,
    DEAD_LETTER,
    INVALID,
    MAX_BURST,
    REJECTED,
    WorkItem,
    classify,
    expected_final_state,
    generate,
)

PORTAL = {1001: 0, 1002: 0, 1003: 0, 2001: 1}


def update(
    email: str = "ada@example.com", sub: int | str = 1001, state: str = "SUBSCRIBED", **extra: object
) -> str:
    return json.dumps({"subscriberIdString": email, "subscriptionId": sub, "statusState": state, **extra})


def item(body: str, sequence: int = 0) -> WorkItem:
    return WorkItem(
        body=body, expectation=classify(body, PORTAL), sequence=sequence, message_id=f"m{sequence}"
    )


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        update(email="ada.example.com"),
        update(sub="one"),
        update(sub=True),
        update(sub=0),
        update(state="OPTED_OUT"),
        update(channel="SMS"),
        update(colour="teal"),
        update(legalBasis="BECAUSE"),
        update(occurredAt="yesterday"),
        json.dumps({"subscriberIdString": "ada@example.com", "subscriptionId": 1001}),
        json.dumps(
            {"action": "UNSUBSCRIBE_ALL", "subscriberIdString": "ada@example.com", "subscriptionId": 1}
        ),
        json.dumps({"action": "OPT_OUT", "subscriberIdString": "ada@example.com"}),
        json.dumps(
            {"action": "UNSUBSCRIBE_ALL", "subscriberIdString": "ada@example.com", "businessUnitId": -1}
        ),
    ],
)
def test_bodies_that_break_the_contract_are_expected_in_the_dlq_as_invalid(body: str) -> None:
    expectation = classify(body, PORTAL)
    assert (expectation.outcome, expectation.reason) == (DEAD_LETTER, INVALID)


def test_an_unknown_subscription_is_expected_to_be_rejected_by_hubspot() -> None:
    expectation = classify(update(sub=999999), PORTAL)
    assert (expectation.outcome, expectation.reason) == (DEAD_LETTER, REJECTED)


def test_valid_updates_apply_including_digit_strings_and_wrapped_bodies() -> None:
    plain = classify(update(email="Ada@Example.com", sub="1002", occurredAt="2026-01-01T10:00:00"), PORTAL)
    assert plain.outcome == APPLY
    assert plain.effects == ((("ada@example.com", 1002, "EMAIL"), "SUBSCRIBED"),)
    assert plain.occurred_at == datetime(2026, 1, 1, 10, tzinfo=UTC)  # no offset means UTC
    sns = json.dumps({"Type": "Notification", "Message": update(state="UNSUBSCRIBED")})
    assert classify(sns, PORTAL).effects == ((("ada@example.com", 1001, "EMAIL"), "UNSUBSCRIBED"),)


def test_an_unsubscribe_all_reaches_every_subscription_in_its_scope() -> None:
    portal_wide = classify(
        json.dumps({"action": "UNSUBSCRIBE_ALL", "subscriberIdString": "ada@example.com"}), PORTAL
    )
    brand_one = classify(
        json.dumps(
            {"action": "UNSUBSCRIBE_ALL", "subscriberIdString": "ada@example.com", "businessUnitId": "1"}
        ),
        PORTAL,
    )
    assert {key[1] for key, _ in portal_wide.effects} == {1001, 1002, 1003, 2001}
    assert {key[1] for key, _ in brand_one.effects} == {2001}
    assert {status for _, status in portal_wide.effects} == {"UNSUBSCRIBED"}


def test_the_newest_update_per_key_wins_whatever_the_send_order() -> None:
    # GIVEN an older update sent after a newer one, and an unsubscribe-all between them in time
    newer = item(update(state="SUBSCRIBED", occurredAt="2026-01-01T10:00:02Z"), 0)
    opt_out = item(
        json.dumps(
            {
                "action": "UNSUBSCRIBE_ALL",
                "subscriberIdString": "ada@example.com",
                "occurredAt": "2026-01-01T10:00:01Z",
            }
        ),
        1,
    )
    older = item(update(state="UNSUBSCRIBED", occurredAt="2026-01-01T10:00:00Z"), 2)
    # WHEN the expected final state is computed
    final = expected_final_state([newer, opt_out, older])
    # THEN 1001 follows the newest update and every other subscription the opt-out
    assert final[("ada@example.com", 1001, "EMAIL")].item is newer
    assert final[("ada@example.com", 1002, "EMAIL")].status == "UNSUBSCRIBED"
    assert final[("ada@example.com", 2001, "EMAIL")].item is opt_out


def test_without_occurred_at_the_time_sqs_accepted_it_decides() -> None:
    first = item(update(state="SUBSCRIBED"), 0)
    second = item(update(state="UNSUBSCRIBED"), 1)
    first.sent_at, second.sent_at = 200.0, 100.0
    assert expected_final_state([first, second])[("ada@example.com", 1001, "EMAIL")].item is first


def test_the_generated_workload_has_the_promised_mix() -> None:
    # GIVEN a generated workload
    workload = generate(3000, seed=7, subscriptions=PORTAL)
    items = workload.items
    # THEN it has exactly the requested size, bursts that fit one send call, and is reproducible
    assert len(items) == 3000
    assert max(len(burst) for burst in workload.bursts) <= MAX_BURST
    assert [i.body for i in generate(3000, seed=7, subscriptions=PORTAL).items] == [i.body for i in items]
    # AND it holds duplicates, invalid records, HubSpot rejections and unsubscribe-alls
    assert any(count > 1 for count in Counter(i.body for i in items).values())
    reasons = Counter(i.expectation.reason for i in items if i.expectation.outcome == DEAD_LETTER)
    assert reasons[INVALID] > 0
    assert reasons[REJECTED] > 0
    assert any('"UNSUBSCRIBE_ALL"' in i.body for i in items)

    # AND some bursts arrive out of order (sent before an older update of the same key)
    def out_of_order(burst: list[WorkItem]) -> bool:
        times = [i.expectation.occurred_at for i in burst if i.expectation.key and i.expectation.occurred_at]
        return times != sorted(times)

    assert sum(out_of_order(burst) for burst in workload.bursts) > 100


def test_sending_keeps_bursts_whole_and_each_contact_on_one_shard() -> None:
    workload = generate(500, seed=3, subscriptions=PORTAL)
    for call in pack(workload.bursts):
        assert 1 <= len(call) <= 10
    packed = [i.sequence for call in pack(workload.bursts) for i in call]
    assert packed == [i.sequence for i in workload.items]
    shards = split_by_shard(workload, 3)
    for shard, bursts in enumerate(shards):
        for burst in bursts:
            for sent in burst:
                if sent.expectation.email:
                    assert shard_of(sent, 3) == shard
    assert sum(len(burst) for bursts in shards for burst in bursts) == 500
