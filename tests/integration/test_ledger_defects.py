"""The ordering ledger's defects found by trying it as an attacker and as an unlucky operator would:
each scenario runs the real handler over real HTTP (emulator) and moto (SQS, DynamoDB)."""

from __future__ import annotations

from typing import Any

import pytest

from local.hubspot_emulator import Faults
from local.hubspot_emulator.config import DEFAULT_SUBSCRIPTIONS, Subscription
from tests.factories import LambdaContext, sqs_event, sqs_record, status_body, unsubscribe_all_body
from tests.integration.conftest import Stack
from tests.integration.test_ordering_across_invocations import (
    WRITE,
    Loader,
    calls,
    event_of,
    ledger_table,
    state,
    summary,
)

__all__ = ["ledger_table"]  # the fixture, used by name


@pytest.mark.usefixtures("ledger_table")
def test_an_outage_over_never_recorded_contacts_keeps_its_category_and_replays_nothing(
    stack: Stack, load_handler: Loader, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN 30 contacts the ledger never saw, and HubSpot answering every call with 503
    handler = load_handler().handler
    stack.emulator.set_faults(Faults(error_rate=1.0, error_statuses=(503,)))
    bodies = [status_body(f"user{n}@example.com", 1001) for n in range(30)]
    event = event_of(stack, *bodies)
    # WHEN the handler runs
    response = handler(event, LambdaContext())
    # THEN every record comes back as HUBSPOT_UNAVAILABLE (nothing claims a replay it cannot do),
    # and only the batch's own write calls were made
    assert len(response["batchItemFailures"]) == 30
    assert summary(caplog).failure_categories == {"HUBSPOT_UNAVAILABLE": 30}
    assert {call["path"] for call in calls(stack)} == {WRITE}


@pytest.mark.usefixtures("ledger_table")
def test_a_contact_with_more_than_100_updates_in_one_batch_is_recorded(
    stack: Stack, load_handler: Loader, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a portal with 120 subscriptions, and one batch holding a write to each for ada plus one
    # write for bob
    extra = tuple(Subscription(5000 + n, f"Topic {n}") for n in range(120))
    stack.emulator.configure(subscriptions=DEFAULT_SUBSCRIPTIONS + extra)
    handler = load_handler().handler
    bodies = [status_body("ada@example.com", sub.id) for sub in extra]
    event = event_of(stack, *bodies, status_body("bob@example.com", 1001))
    # WHEN the handler runs
    response = handler(event, LambdaContext())
    # THEN all 121 are applied and recorded: nothing comes back as LEDGER_UNAVAILABLE
    assert response == {"batchItemFailures": []}
    assert summary(caplog).applied == 121
    # AND a later older update of one key is superseded by what was recorded
    before = len(calls(stack))
    older = status_body("ada@example.com", 5000, "UNSUBSCRIBED", occurredAt="2020-01-01T00:00:00Z")
    assert handler(event_of(stack, older), LambdaContext()) == {"batchItemFailures": []}
    assert len(calls(stack)) == before
    assert state(stack, "ada@example.com", 5000) == "SUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_an_archived_subscription_does_not_hold_up_the_contacts_replays(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN ada subscribed to 1002 (10:00), applied and recorded
    handler = load_handler().handler
    write = status_body("ada@example.com", 1002, "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z")
    assert handler(event_of(stack, write), LambdaContext()) == {"batchItemFailures": []}
    # AND the subscription archived in HubSpot since (no write to it can succeed any more)
    archived = tuple(
        Subscription(s.id, s.name, s.business_unit_id, s.description, is_active=s.id != 1002)
        for s in DEFAULT_SUBSCRIPTIONS
    )
    stack.emulator.configure(subscriptions=archived)
    # WHEN an older brand unsubscribe-all (09:00) arrives, whose replay re-sends the 1002 write
    opt_out = unsubscribe_all_body("ada@example.com", 0, occurredAt="2026-01-05T09:00:00Z")
    response = handler(event_of(stack, opt_out), LambdaContext())
    # THEN the opt-out is applied and does not come back: the rejected re-send has nothing to keep in
    # order, and a later replay of the contact no longer tries it
    assert response == {"batchItemFailures": []}
    before = len(calls(stack))
    again = unsubscribe_all_body("ada@example.com", 1, occurredAt="2026-01-05T08:00:00Z")
    assert handler(event_of(stack, again), LambdaContext()) == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)[before:]] == [
        "/communication-preferences/2026-03/statuses/batch/unsubscribe-all"
    ]


@pytest.mark.usefixtures("ledger_table")
def test_two_different_updates_sent_in_the_same_millisecond_the_later_arrival_wins(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN an update without occurredAt applied and recorded
    handler = load_handler().handler
    first = status_body("ada@example.com", 1001, "SUBSCRIBED")
    assert handler(event_of(stack, first, sent_ms=1_790_000_000_000), LambdaContext()) == {
        "batchItemFailures": []
    }
    # WHEN a different update of the same key, sent in the same millisecond, arrives in a later
    # invocation
    second = status_body("ada@example.com", 1001, "UNSUBSCRIBED")
    response = handler(event_of(stack, second, sent_ms=1_790_000_000_000), LambdaContext())
    # THEN it is not a duplicate: it is sent and wins, as the later position wins within a batch
    assert response == {"batchItemFailures": []}
    assert len(calls(stack)) == 2
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


def records_sharing(message_id: str, stack: Stack, *bodies: dict[str, Any] | str) -> dict[str, Any]:
    event = sqs_event(*(sqs_record(body, queue_arn=stack.queue_arn) for body in bodies))
    for record in event["Records"]:
        if message_id:
            record["messageId"] = message_id
        else:
            del record["messageId"]
    return event


@pytest.mark.parametrize("message_id", ["same-id", ""], ids=["colliding", "missing"])
def test_records_sharing_a_message_id_keep_their_own_outcomes(
    stack: Stack, load_handler: Loader, message_id: str
) -> None:
    # GIVEN two records with the same (or no) messageId: a valid write and an invalid body
    event = records_sharing(message_id, stack, status_body("ada@example.com", 1001), "not json")
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the write is applied and never dead-lettered; only the invalid body reaches the DLQ
    assert response == {"batchItemFailures": []}
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    dead = stack.dead_letters()
    assert [message["Body"] for message in dead] == ["not json"]
