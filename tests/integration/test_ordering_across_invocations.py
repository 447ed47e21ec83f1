"""The version ledger (DynamoDB, moto server) keeps HubSpot's final state equal to the newest update per
key when updates arrive out of order across invocations, twice, or crossing another invocation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest

from local.aws.provision import create_table
from local.hubspot_emulator import Faults
from tests.factories import LambdaContext, sqs_event, sqs_record, status_body, unsubscribe_all_body
from tests.integration.conftest import TOKEN, Stack

WRITE = "/communication-preferences/2026-03/statuses/batch/write"
UNSUBSCRIBE = "/communication-preferences/2026-03/statuses/batch/unsubscribe-all"
Loader = Callable[..., ModuleType]


@pytest.fixture
def ledger_table(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The template's ledger table (created from template.yaml), and the function pointed at it."""
    name = create_table(boto3.client("dynamodb"), f"versions-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("VERSION_TABLE_NAME", name)
    return name


def event_of(stack: Stack, *bodies: dict[str, Any], sent_ms: int = 1_790_000_000_000) -> dict[str, Any]:
    return sqs_event(
        *(sqs_record(body, sent_timestamp_ms=sent_ms, queue_arn=stack.queue_arn) for body in bodies)
    )


def calls(stack: Stack) -> list[dict[str, Any]]:
    return [e for e in stack.emulator.request_log() if e["path"] in (WRITE, UNSUBSCRIBE)]


def state(stack: Stack, email: str, subscription_id: int) -> str:
    current = stack.emulator.status(email, subscription_id)
    return "NOT_SPECIFIED" if current is None else str(current["status"])


def write_as_an_earlier_invocation(stack: Stack, body: dict[str, Any]) -> None:
    """The batch/write call an earlier invocation made for ``body`` (over HTTP, with the function's
    token), for a history the handler must repair: a killed invocation's, a replay cut short."""
    fields = {k: body[k] for k in ("subscriberIdString", "subscriptionId", "statusState")}
    answer = httpx.post(
        f"{stack.emulator.base_url}{WRITE}",
        json={"inputs": [{**fields, "channel": "EMAIL"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 200


def write_then_brand_opt_out(stack: Stack, handler: Callable[..., Any]) -> dict[str, Any]:
    """A write (10:00) and a brand's unsubscribe-all (11:00) applied and recorded; returns the write."""
    write = status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z")
    opt_out = unsubscribe_all_body("ada@example.com", 0, occurredAt="2026-01-05T11:00:00Z")
    assert handler(event_of(stack, write), LambdaContext()) == {"batchItemFailures": []}
    assert handler(event_of(stack, opt_out), LambdaContext()) == {"batchItemFailures": []}
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"
    return write


def summary(caplog: pytest.LogCaptureFixture) -> Any:
    lines = [r for r in caplog.records if r.getMessage() == "batch processed"]
    return lines[-1]


@pytest.mark.usefixtures("ledger_table")
def test_an_older_update_arriving_later_is_superseded(
    stack: Stack, load_handler: Loader, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the newer update (11:00) was applied by an earlier invocation
    handler = load_handler().handler
    newer = status_body("ada@example.com", 1001, "UNSUBSCRIBED", occurredAt="2026-01-05T11:00:00Z")
    assert handler(event_of(stack, newer), LambdaContext()) == {"batchItemFailures": []}
    # WHEN the older one (10:00) arrives in a later invocation
    older = status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z")
    response = handler(event_of(stack, older), LambdaContext())
    # THEN it is superseded without a HubSpot call and HubSpot keeps the newer state
    assert response == {"batchItemFailures": []}
    assert len(calls(stack)) == 1
    assert summary(caplog).superseded == 1
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_a_duplicate_delivery_is_not_sent_again(stack: Stack, load_handler: Loader) -> None:
    # GIVEN one message applied
    handler = load_handler().handler
    record = sqs_record(status_body("ada@example.com", 1001), message_id="m-1", queue_arn=stack.queue_arn)
    assert handler(sqs_event(record), LambdaContext()) == {"batchItemFailures": []}
    # WHEN SQS delivers the same message again (at-least-once)
    response = handler(sqs_event(record), LambdaContext())
    # THEN nothing is sent the second time
    assert response == {"batchItemFailures": []}
    assert len(calls(stack)) == 1


@pytest.mark.usefixtures("ledger_table")
def test_a_late_unsubscribe_all_is_followed_by_the_newer_writes(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a re-subscribe to 1001 at 11:00 already applied
    handler = load_handler().handler
    resubscribe = status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T11:00:00Z")
    assert handler(event_of(stack, resubscribe), LambdaContext()) == {"batchItemFailures": []}
    # WHEN an older portal-wide unsubscribe-all (10:00) arrives later
    opt_out = unsubscribe_all_body("ada@example.com", occurredAt="2026-01-05T10:00:00Z")
    response = handler(event_of(stack, opt_out), LambdaContext())
    # THEN the opt-out was applied and the newer re-subscribe re-sent after it: what happened last wins
    assert response == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)] == [WRITE, UNSUBSCRIBE, WRITE]
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    assert state(stack, "ada@example.com", 1002) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_an_old_write_under_a_newer_brand_opt_out_is_overridden_again(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a brand-0 opt-out at 11:00 already applied
    handler = load_handler().handler
    opt_out = unsubscribe_all_body("ada@example.com", 0, occurredAt="2026-01-05T11:00:00Z")
    assert handler(event_of(stack, opt_out), LambdaContext()) == {"batchItemFailures": []}
    # WHEN an older SUBSCRIBED write to 1001 (brand 0) arrives later
    older = status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z")
    response = handler(event_of(stack, older), LambdaContext())
    # THEN it was sent (its brand is unknown to the function) and the opt-out replayed after it
    assert response == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)] == [UNSUBSCRIBE, WRITE, UNSUBSCRIBE]
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
@pytest.mark.parametrize("with_a_newer_first_delivery", [False, True], ids=["alone", "coalesced"])
def test_a_redelivery_after_an_unrecorded_late_write_restores_the_newest_state(
    stack: Stack, load_handler: Loader, with_a_newer_first_delivery: bool
) -> None:
    # GIVEN the newer update (11:00) applied and recorded by one invocation
    handler = load_handler().handler
    newer = status_body("ada@example.com", 1001, "UNSUBSCRIBED", occurredAt="2026-01-05T11:00:00Z")
    assert handler(event_of(stack, newer), LambdaContext()) == {"batchItemFailures": []}
    # AND the older update's first delivery reached HubSpot afterwards, in an invocation killed before it
    # recorded anything (its call is made here, over HTTP with the same token, as that invocation made it)
    older = status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z")
    write_as_an_earlier_invocation(stack, older)
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    # WHEN SQS delivers the older message again: alone, or in one batch with a first delivery of a
    # 10:30 update of the same key (coalescing keeps that one, which the ledger holds older than 11:00)
    records = [sqs_record(older, message_id="again", receive_count=2, queue_arn=stack.queue_arn)]
    if with_a_newer_first_delivery:
        middle = status_body("ada@example.com", 1001, "NOT_SPECIFIED", occurredAt="2026-01-05T10:30:00Z")
        records.append(sqs_record(middle, message_id="first", queue_arn=stack.queue_arn))
    response = handler(sqs_event(*records), LambdaContext())
    # THEN nothing is applied again, the newer update is re-sent last, and HubSpot holds the newest
    assert response == {"batchItemFailures": []}
    assert calls(stack)[-1]["body"]["inputs"][0]["statusState"] == "UNSUBSCRIBED"
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_a_rejected_redelivery_repairs_what_a_replay_cut_short_undid(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a write (10:00) and a brand's unsubscribe-all (11:00) applied and recorded
    handler = load_handler().handler
    write = write_then_brand_opt_out(stack, handler)
    # AND an earlier delivery of a write to an unknown subscription (10:30) replayed the subscriber and
    # was cut short after re-sending the 10:00 write, before the opt-out (its call is made here, over
    # HTTP with the same token, as that replay made it); the message came back for that
    write_as_an_earlier_invocation(stack, write)
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    unknown = status_body("ada@example.com", 999999, "SUBSCRIBED", occurredAt="2026-01-05T10:30:00Z")
    record = sqs_record(unknown, receive_count=2, queue_arn=stack.queue_arn)
    # WHEN SQS delivers it again and HubSpot rejects it
    response = handler(sqs_event(record), LambdaContext())
    # THEN it is dead-lettered (nothing comes back), and the replay ran again: the opt-out was re-sent
    # last and HubSpot holds the newest state
    assert response == {"batchItemFailures": []}
    assert calls(stack)[-1]["path"] == UNSUBSCRIBE
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_a_rejected_redelivery_whose_replay_cannot_finish_comes_back_to_finish_it(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a write (10:00) and a brand's unsubscribe-all (11:00) applied and recorded, and a replay
    # cut short that left the write on top (as in the test above)
    handler = load_handler().handler
    write = write_then_brand_opt_out(stack, handler)
    write_as_an_earlier_invocation(stack, write)
    unknown = status_body("ada@example.com", 999999, "SUBSCRIBED", occurredAt="2026-01-05T10:30:00Z")
    record = sqs_record(unknown, message_id="again", receive_count=2, queue_arn=stack.queue_arn)
    # WHEN SQS delivers the rejected message again while HubSpot's unsubscribe-all route is down
    stack.emulator.set_faults(Faults(error_rate=1.0, error_statuses=(503,), path_prefixes=(UNSUBSCRIBE,)))
    response = handler(sqs_event(record), LambdaContext())
    # THEN it is not dead-lettered but comes back: its replay is not done, and only its next delivery
    # runs that replay again
    assert response == {"batchItemFailures": [{"itemIdentifier": "again"}]}
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    # AND WHEN it is delivered once more with HubSpot well, THEN it is dead-lettered and the opt-out
    # was re-sent last
    stack.emulator.set_faults(Faults())
    again = sqs_record(unknown, message_id="again", receive_count=2, queue_arn=stack.queue_arn)
    assert handler(sqs_event(again), LambdaContext()) == {"batchItemFailures": []}
    assert calls(stack)[-1]["path"] == UNSUBSCRIBE
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_a_rejected_redelivery_is_dead_lettered_at_its_third_receive_whatever_its_replay_does(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the same cut-short replay, and HubSpot's unsubscribe-all route down
    handler = load_handler().handler
    write_as_an_earlier_invocation(stack, write_then_brand_opt_out(stack, handler))
    unknown = status_body("ada@example.com", 999999, "SUBSCRIBED", occurredAt="2026-01-05T10:30:00Z")
    stack.emulator.set_faults(Faults(error_rate=1.0, error_statuses=(503,), path_prefixes=(UNSUBSCRIBE,)))
    # WHEN the rejected message arrives for the third time
    record = sqs_record(unknown, message_id="third", receive_count=3, queue_arn=stack.queue_arn)
    response = handler(sqs_event(record), LambdaContext())
    # THEN it is dead-lettered with its reason, not left for SQS to redrive without one
    assert response == {"batchItemFailures": []}
    categories = [d["MessageAttributes"]["error_category"]["StringValue"] for d in stack.dead_letters()]
    assert categories == ["HUBSPOT_REJECTED_ITEM"]


@pytest.mark.usefixtures("ledger_table")
def test_a_re_sent_opt_out_whose_answer_is_lost_is_still_followed_by_the_newer_writes(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a brand's unsubscribe-all (11:00) and a newer re-subscribe to 1001 (12:00), both recorded
    handler = load_handler().handler
    opt_out = unsubscribe_all_body("ada@example.com", 0, occurredAt="2026-01-05T11:00:00Z")
    resubscribe = status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T12:00:00Z")
    assert handler(event_of(stack, opt_out), LambdaContext()) == {"batchItemFailures": []}
    assert handler(event_of(stack, resubscribe), LambdaContext()) == {"batchItemFailures": []}
    # AND an older write to an unknown subscription (10:30) on its third receive: its earlier delivery
    # may have landed after the opt-out, so the opt-out is re-sent, then the re-subscribe after it
    unknown = status_body("ada@example.com", 999999, "SUBSCRIBED", occurredAt="2026-01-05T10:30:00Z")
    record = sqs_record(unknown, message_id="third", receive_count=3, queue_arn=stack.queue_arn)
    # WHEN HubSpot applies that re-sent opt-out but its answer is lost, on every try
    lost = ("drop-after",) * 8
    stack.emulator.set_faults(Faults(script=lost, path_prefixes=(UNSUBSCRIBE,)))
    response = handler(sqs_event(record), LambdaContext())
    # THEN the rejected message is dead-lettered on this last receive, and the re-subscribe was still
    # re-sent after the opt-out: nothing is left to come back and repair it, and HubSpot holds the newest
    assert response == {"batchItemFailures": []}
    assert [c["path"] for c in calls(stack)][-2:] == [UNSUBSCRIBE, WRITE]
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    assert state(stack, "ada@example.com", 1002) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_a_rejected_first_delivery_does_not_replay_the_subscriber(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a write (10:00) and a brand's unsubscribe-all (11:00) applied and recorded
    handler = load_handler().handler
    write_then_brand_opt_out(stack, handler)
    before = len(calls(stack))
    # WHEN a write to an unknown subscription (10:30) arrives for the first time and HubSpot rejects it
    unknown = status_body("ada@example.com", 999999, "SUBSCRIBED", occurredAt="2026-01-05T10:30:00Z")
    response = handler(event_of(stack, unknown), LambdaContext())
    # THEN it is dead-lettered and nothing else is sent: it changed nothing that a replay would repair
    assert response == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)[before:]] == [WRITE]
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("ledger_table")
def test_crossing_invocations_end_with_the_newest_state(stack: Stack, load_handler: Loader) -> None:
    # GIVEN two warm execution environments and a slow HubSpot (1 s), so both read the ledger before
    # either records
    first, second = load_handler().handler, load_handler().handler
    for n, handler in enumerate((first, second)):
        warm_up = event_of(stack, status_body(f"warm{n}@example.com", 1001))
        assert handler(warm_up, LambdaContext()) == {"batchItemFailures": []}
    stack.emulator.reset()
    stack.emulator.set_faults(Faults(latency_ms=1000))
    newer = event_of(
        stack, status_body("ada@example.com", 1001, "UNSUBSCRIBED", occurredAt="2026-01-05T11:00:00Z")
    )
    older = event_of(
        stack, status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-05T10:00:00Z")
    )
    responses: dict[str, Any] = {}
    # WHEN they run at the same time
    threads = [
        threading.Thread(target=lambda: responses.update(newer=first(newer, LambdaContext()))),
        threading.Thread(target=lambda: responses.update(older=second(older, LambdaContext()))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # THEN whatever the interleaving (crossing: the second to record finds the first's record and replays;
    # not crossing: the later one is superseded or simply newer), the newest state was the last to land,
    # HubSpot holds it, and nothing comes back
    assert responses == {"newer": {"batchItemFailures": []}, "older": {"batchItemFailures": []}}
    assert calls(stack)[-1]["body"]["inputs"][0]["statusState"] == "UNSUBSCRIBED"
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


def test_an_unreachable_ledger_returns_the_batch(
    stack: Stack, load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a ledger table that does not exist
    monkeypatch.setenv("VERSION_TABLE_NAME", "no-such-table")
    event = event_of(stack, status_body("ada@example.com", 1001))
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN nothing was sent and the message comes back
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [
        event["Records"][0]["messageId"]
    ]
    assert calls(stack) == []
