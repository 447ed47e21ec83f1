"""The freshness check through the real handler (README: Outcomes, HubSpot-side changes): HubSpot is the
emulator over loopback HTTP, its own writers (the contact, the UI, a workflow) act through its control
API, and an update older than such a change is never written."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest
from status_writer.ledger_items import history_of

from local.aws.provision import create_table
from local.hubspot_emulator import Faults
from tests.factories import LambdaContext, sqs_event, sqs_record, status_body, unsubscribe_all_body
from tests.integration.conftest import TOKEN, Stack

PREFIX = "/communication-preferences/2026-03/statuses/"
WRITES = (f"{PREFIX}batch/write", f"{PREFIX}batch/unsubscribe-all")
READS = (f"{PREFIX}batch/read", f"{PREFIX}batch/unsubscribe-all/read")
SENT_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z, when SQS accepted the test messages
Loader = Callable[..., ModuleType]


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> None:
    """The template's default: every update checked against HubSpot's state."""
    monkeypatch.setenv("HUBSPOT_FRESHNESS_CHECK", "all")


@pytest.fixture
def ledger(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = create_table(boto3.client("dynamodb"), f"versions-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("VERSION_TABLE_NAME", name)
    return name


def run(
    load_handler: Loader, stack: Stack, *bodies: dict[str, Any], sent_ms: int = SENT_MS
) -> dict[str, Any]:
    event = sqs_event(*(sqs_record(b, sent_timestamp_ms=sent_ms, queue_arn=stack.queue_arn) for b in bodies))
    response: dict[str, Any] = load_handler().handler(event, LambdaContext())
    return response


def act(stack: Stack, **change: Any) -> None:
    """A change made in HubSpot (the contact's own, by default) at ``timestamp``."""
    stack.emulator.actor({"email": "ada@example.com", **change})


def state(stack: Stack, email: str = "ada@example.com", subscription_id: int = 1001) -> str | None:
    current = stack.emulator.status(email, subscription_id)
    return None if current is None else str(current["status"])


def paths(stack: Stack, among: tuple[str, ...]) -> list[str]:
    return [entry["path"] for entry in stack.emulator.request_log() if entry["path"] in among]


@pytest.mark.usefixtures("checked")
def test_an_older_subscribed_after_a_newer_opt_out_made_in_hubspot_is_deleted_not_written(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the contact unsubscribed from 1001 in HubSpot at 12:00
    act(
        stack,
        action="status",
        subscription_id=1001,
        state="UNSUBSCRIBED",
        timestamp="2026-11-16T12:00:00.000Z",
    )
    # WHEN an upstream SUBSCRIBED that happened at 11:00 arrives
    response = run(load_handler, stack, status_body(occurredAt="2026-11-16T11:00:00Z"))
    # THEN it is deleted (not retried, not dead-lettered) and never written: ada stays unsubscribed
    assert response == {"batchItemFailures": []}
    assert paths(stack, WRITES) == []
    assert stack.dead_letters() == []
    assert state(stack) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_an_older_subscribed_after_a_newer_portal_wide_opt_out_in_hubspot_is_not_written(
    stack: Stack, load_handler: Loader
) -> None:
    act(stack, action="unsubscribe_all", timestamp="2026-11-16T12:00:00.000Z")
    response = run(load_handler, stack, status_body(subscription_id=1002, occurredAt="2026-11-16T11:00:00Z"))
    assert response == {"batchItemFailures": []}
    assert paths(stack, WRITES) == []
    assert state(stack, subscription_id=1002) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_an_older_unsubscribed_after_the_contacts_own_newer_resubscribe_is_not_written(
    stack: Stack, load_handler: Loader
) -> None:
    act(
        stack, action="status", subscription_id=1001, state="SUBSCRIBED", timestamp="2026-11-16T12:00:00.000Z"
    )
    response = run(load_handler, stack, status_body(state="UNSUBSCRIBED", occurredAt="2026-11-16T11:00:00Z"))
    assert response == {"batchItemFailures": []}
    assert paths(stack, WRITES) == []
    assert state(stack) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_newer_updates_and_contacts_hubspot_does_not_know_are_written(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN ada unsubscribed from 1001 in HubSpot at 12:00; grace is unknown to HubSpot
    act(
        stack,
        action="status",
        subscription_id=1001,
        state="UNSUBSCRIBED",
        timestamp="2026-11-16T12:00:00.000Z",
    )
    # WHEN a newer SUBSCRIBED for ada and an old one for grace arrive
    response = run(
        load_handler,
        stack,
        status_body(occurredAt="2026-11-16T13:00:00Z"),
        status_body("grace@example.com", occurredAt="2020-01-01T00:00:00Z"),
    )
    # THEN both are written
    assert response == {"batchItemFailures": []}
    assert state(stack) == "SUBSCRIBED"
    assert state(stack, "grace@example.com") == "SUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_a_message_without_occurred_at_is_judged_by_its_sent_timestamp(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the contact unsubscribed in HubSpot at 2026-11-18T12:00 (after SENT_MS, 11:06:40)
    act(
        stack,
        action="status",
        subscription_id=1001,
        state="UNSUBSCRIBED",
        timestamp="2026-11-18T12:00:00.000Z",
    )
    # WHEN a SUBSCRIBED without occurredAt sent at 11:06:40 arrives, then one sent two days later
    older = run(load_handler, stack, status_body())
    after_older = state(stack)
    newer = run(load_handler, stack, status_body(), sent_ms=1_795_255_200_000)  # 2026-11-21T10:00Z
    # THEN the first is not written, the second is
    assert older == newer == {"batchItemFailures": []}
    assert after_older == "UNSUBSCRIBED"
    assert state(stack) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_a_batch_of_a_hundred_contacts_is_read_in_two_calls(stack: Stack, load_handler: Loader) -> None:
    # GIVEN 100 contacts, one of them with an unsubscribe-all
    bodies = [status_body(f"user{i:03d}@example.com", occurredAt="2026-11-16T11:00:00Z") for i in range(99)]
    bodies.append(unsubscribe_all_body("last@example.com", occurredAt="2026-11-16T11:00:00Z"))
    response = run(load_handler, stack, *bodies)
    # THEN two reads (statuses, wide opt-outs), both before every write
    assert response == {"batchItemFailures": []}
    log = [e["path"] for e in stack.emulator.request_log()]
    assert sorted(p for p in log if p in READS) == sorted(READS)
    assert max(log.index(p) for p in READS) < min(log.index(p) for p in log if p in WRITES)


@pytest.mark.usefixtures("checked")
def test_a_read_that_fails_makes_its_records_retryable_and_writes_nothing(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN HubSpot answers the statuses read 503 each time (3 reads, each with its quick retry)
    stack.emulator.set_faults(Faults(script=("503",) * 6))
    event_bodies = [status_body(occurredAt="2026-11-16T11:00:00Z"), status_body("grace@example.com")]
    # WHEN the batch runs
    response = run(load_handler, stack, *event_bodies)
    # THEN both records come back, none was written: nothing is assumed about HubSpot's state
    assert len(response["batchItemFailures"]) == 2
    assert paths(stack, WRITES) == []
    assert stack.dead_letters() == []


@pytest.mark.usefixtures("checked")
def test_a_read_answer_that_is_not_complete_is_read_again_never_taken_as_empty(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN ada unsubscribed in HubSpot at 12:00, and HubSpot answers the next reads PROCESSING
    act(
        stack,
        action="status",
        subscription_id=1001,
        state="UNSUBSCRIBED",
        timestamp="2026-11-16T12:00:00.000Z",
    )
    stack.emulator.set_faults(Faults(processing=True))
    # WHEN an older SUBSCRIBED arrives
    response = run(load_handler, stack, status_body(occurredAt="2026-11-16T11:00:00Z"))
    # THEN it comes back: a read that is not COMPLETE says nothing, not "HubSpot holds nothing"
    assert len(response["batchItemFailures"]) == 1
    assert state(stack) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("checked", "ledger")
def test_with_the_ledger_the_functions_own_write_is_not_mistaken_for_a_hubspot_side_change(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the function wrote SUBSCRIBED (occurred 10:00); HubSpot stamped it now, far later
    assert run(load_handler, stack, status_body(occurredAt="2026-11-16T10:00:00Z")) == {
        "batchItemFailures": []
    }
    # WHEN a newer UNSUBSCRIBED (11:00, still older than HubSpot's stamp) arrives
    response = run(load_handler, stack, status_body(state="UNSUBSCRIBED", occurredAt="2026-11-16T11:00:00Z"))
    # THEN it is written: the stamp the ledger kept says HubSpot's state is the function's own
    assert response == {"batchItemFailures": []}
    assert state(stack) == "UNSUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_without_the_ledger_a_backlog_update_looks_older_than_the_functions_own_write(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the same two updates with the ledger off (the limit README: Outcomes documents)
    run(load_handler, stack, status_body(occurredAt="2026-11-16T10:00:00Z"))
    response = run(load_handler, stack, status_body(state="UNSUBSCRIBED", occurredAt="2026-11-16T11:00:00Z"))
    # THEN the second is superseded by what is in fact the function's own later-stamped write
    assert response == {"batchItemFailures": []}
    assert state(stack) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked", "ledger")
def test_a_replay_never_re_subscribes_a_contact_who_opted_out_in_hubspot_since(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN ada/1001 SUBSCRIBED through the function, then the contact unsubscribed in HubSpot (now)
    environment = load_handler()  # one warm environment: its own writes' source is known
    again = lambda: environment  # noqa: E731
    assert run(again, stack, status_body(occurredAt="2026-11-16T10:00:00Z")) == {"batchItemFailures": []}
    act(stack, action="status", subscription_id=1001, state="UNSUBSCRIBED")
    writes_before = len(paths(stack, WRITES))
    # WHEN a late, older brand opt-out arrives (its replay would re-send the SUBSCRIBED)
    response = run(again, stack, unsubscribe_all_body(business_unit_id=0, occurredAt="2026-11-16T09:00:00Z"))
    # THEN ada is not subscribed again, and no write of 1001 followed the opt-out
    assert response == {"batchItemFailures": []}
    assert state(stack) == "UNSUBSCRIBED"
    assert paths(stack, WRITES)[writes_before:] == [WRITES[1]]


@pytest.mark.usefixtures("checked")
def test_a_state_hubspot_already_holds_costs_no_write(stack: Stack, load_handler: Loader) -> None:
    # GIVEN HubSpot holds ada/1001 SUBSCRIBED, set in HubSpot at 09:00
    act(
        stack, action="status", subscription_id=1001, state="SUBSCRIBED", timestamp="2026-11-16T09:00:00.000Z"
    )
    # WHEN a newer SUBSCRIBED arrives THEN it is applied without a write call
    assert run(load_handler, stack, status_body(occurredAt="2026-11-16T11:00:00Z")) == {
        "batchItemFailures": []
    }
    assert paths(stack, WRITES) == []
    assert state(stack) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked", "ledger")
def test_a_state_hubspot_already_held_never_makes_its_writers_other_changes_look_like_the_functions(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a workflow opted ada out of brand 0 in HubSpot at 12:00 (1001 and 1003 UNSUBSCRIBED then)
    act(
        stack,
        action="unsubscribe_all",
        business_unit_id=0,
        source="AUTOMATION_WORKFLOW",
        timestamp="2026-11-16T12:00:00.000Z",
    )
    # AND a newer upstream UNSUBSCRIBED of 1003 (12:30), which HubSpot already holds: applied, no call
    unsubscribed = status_body(subscription_id=1003, state="UNSUBSCRIBED", occurredAt="2026-11-16T12:30:00Z")
    assert run(load_handler, stack, unsubscribed) == {"batchItemFailures": []}
    assert paths(stack, WRITES) == []
    # WHEN an upstream SUBSCRIBED of 1001 from 11:00, older than the workflow's opt-out, arrives later
    response = run(load_handler, stack, status_body(subscription_id=1001, occurredAt="2026-11-16T11:00:00Z"))
    # THEN it is superseded by HubSpot, not written: the recorded no-op did not make the function the
    # author of the workflow's opt-out (the status it skipped carries that opt-out's timestamp)
    assert response == {"batchItemFailures": []}
    assert paths(stack, WRITES) == []
    assert state(stack) == "UNSUBSCRIBED"


def opt_out_over_a_hubspot_side_change(
    stack: Stack, load_handler: Loader, first_faults: Faults
) -> str | None:
    """The contact re-subscribes to 1002 in HubSpot at 12:00; an upstream portal-wide unsubscribe-all
    of 11:00 is delivered under ``first_faults`` (it lands, and comes back), then again with HubSpot well
    (HubSpot then shows the function's opt-out on 1002). Returns HubSpot's final 1002."""
    act(
        stack, action="status", subscription_id=1002, state="SUBSCRIBED", timestamp="2026-11-16T12:00:00.000Z"
    )
    opt_out = unsubscribe_all_body("ada@example.com", None, occurredAt="2026-11-16T11:00:00Z")
    stack.emulator.set_faults(first_faults)
    handler = load_handler().handler
    for receive, failed in ((1, [{"itemIdentifier": "u"}]), (2, [])):
        record = sqs_record(
            opt_out,
            message_id="u",
            sent_timestamp_ms=SENT_MS,
            receive_count=receive,
            queue_arn=stack.queue_arn,
        )
        assert handler(sqs_event(record), LambdaContext()) == {"batchItemFailures": failed}
        if receive == 1:
            assert state(stack, subscription_id=1002) == "UNSUBSCRIBED"
            stack.emulator.set_faults(Faults())
    return state(stack, subscription_id=1002)


@pytest.mark.usefixtures("checked", "ledger")
def test_a_hubspot_side_change_an_opt_out_undid_is_restored_even_after_its_re_send_failed(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN/WHEN the opt-out lands while HubSpot's write route fails: the re-send of 1002 after it does not
    faults = Faults(error_rate=1.0, error_statuses=(503,), path_prefixes=(f"{PREFIX}batch/write",))
    # THEN on its next delivery the contact's own newer change is restored: the ledger kept it as read
    assert opt_out_over_a_hubspot_side_change(stack, load_handler, faults) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked", "ledger")
def test_a_hubspot_side_change_an_opt_out_undid_is_restored_after_the_opt_outs_answer_was_unsure(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN/WHEN the opt-out lands but HubSpot answers it PROCESSING (applied, not known to be): it comes
    # back and the re-send of 1002 after it is held (the prefix matches the wide read too: it answers
    # first, then the opt-out)
    faults = Faults(script=("ok", "processing"), path_prefixes=(WRITES[1],))
    # THEN on its next delivery the workflow's change, gone from HubSpot by then, is restored: an unsure
    # opt-out may have changed HubSpot, so the contact's history as read was recorded (make chaos
    # --portals 3 --seed 35 lost it)
    assert opt_out_over_a_hubspot_side_change(stack, load_handler, faults) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_an_unsure_opt_out_records_the_statuses_another_writer_set_never_a_wide_opt_out(
    stack: Stack, load_handler: Loader, ledger: str
) -> None:
    # GIVEN the contact's own brand-0 opt-out in HubSpot at 12:00: its statuses name the writer (the
    # preferences page), the wide opt-out itself names none (it may be the function's own)
    act(stack, action="unsubscribe_all", business_unit_id=0, timestamp="2026-11-16T12:00:00.000Z")
    # WHEN an upstream portal-wide unsubscribe-all of 11:00 is answered PROCESSING (the wide read first)
    stack.emulator.set_faults(Faults(script=("ok", "processing"), path_prefixes=(WRITES[1],)))
    opt_out = unsubscribe_all_body("ada@example.com", None, occurredAt="2026-11-16T11:00:00Z")
    response = run(load_handler, stack, opt_out)
    # THEN it comes back, and the ledger records the statuses the contact's change set, not the wide
    # opt-out: recorded, that would stand as newer than every upstream update of its scope
    assert len(response["batchItemFailures"]) == 1
    (item,) = boto3.client("dynamodb").scan(TableName=ledger)["Items"]
    assert set(history_of(item).entries) == {("S", "1001"), ("S", "1002"), ("S", "1003")}


@pytest.mark.usefixtures("checked")
def test_an_unsure_opt_out_with_nothing_another_writer_set_writes_no_ledger_item(
    stack: Stack, load_handler: Loader, ledger: str
) -> None:
    # GIVEN a contact HubSpot holds nothing for
    # WHEN an upstream portal-wide unsubscribe-all is answered PROCESSING (the wide read first)
    stack.emulator.set_faults(Faults(script=("ok", "processing"), path_prefixes=(WRITES[1],)))
    response = run(load_handler, stack, unsubscribe_all_body("ada@example.com", None))
    # THEN it comes back and no item is written: no recording for nothing, which would only make the
    # contact's other invocations re-plan on a conflict
    assert len(response["batchItemFailures"]) == 1
    assert boto3.client("dynamodb").scan(TableName=ledger)["Items"] == []


@pytest.mark.usefixtures("checked", "ledger")
def test_a_fresh_environment_sends_back_an_update_a_concurrent_unrecorded_write_would_supersede(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN another invocation's write of ada/1001 UNSUBSCRIBED just now, not recorded yet (its call is
    # made here, over HTTP with the function's token), and an environment that has written nothing
    answer = httpx.post(
        f"{stack.emulator.base_url}{WRITES[0]}",
        json={"inputs": [{**status_body(state="UNSUBSCRIBED"), "channel": "EMAIL"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 200
    # WHEN an older upstream SUBSCRIBED of 1001 arrives
    event = sqs_event(
        sqs_record(status_body(occurredAt="2026-11-16T11:00:00Z"), message_id="w", queue_arn=stack.queue_arn)
    )
    response = load_handler().handler(event, LambdaContext())
    # THEN it is neither written nor deleted as superseded by HubSpot: it comes back, to be judged once
    # that invocation has recorded its write (or this environment knows the function's own source)
    assert response == {"batchItemFailures": [{"itemIdentifier": "w"}]}
    assert paths(stack, WRITES)[1:] == []


@pytest.mark.usefixtures("checked", "ledger")
def test_an_update_superseded_by_another_invocations_unrecorded_write_is_judged_again_after_the_conflict(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a warm environment whose write of ada/1001 UNSUBSCRIBED (10:00) HubSpot holds but which has
    # not recorded it yet (writes slow: applied at once, answered after 1.5 s)
    first = load_handler().handler
    warm_up = sqs_event(sqs_record(status_body("warm@example.com"), queue_arn=stack.queue_arn))
    assert first(warm_up, LambdaContext()) == {"batchItemFailures": []}
    stack.emulator.set_faults(Faults(latency_ms=1500, path_prefixes=(WRITES[0],)))
    second = load_handler().handler
    older = sqs_event(
        sqs_record(
            status_body(state="UNSUBSCRIBED", occurredAt="2026-11-16T10:00:00Z"), queue_arn=stack.queue_arn
        )
    )
    responses: dict[str, Any] = {}
    writing = threading.Thread(target=lambda: responses.update(older=first(older, LambdaContext())))
    writing.start()
    time.sleep(0.5)
    # WHEN a fresh environment (the function's source not known yet) reads that write as a HubSpot-side
    # change and supersedes by it a newer SUBSCRIBED (11:00, its third receive), while it also writes
    # 1002, and the first environment records before it does
    newer = sqs_event(
        sqs_record(
            status_body(occurredAt="2026-11-16T11:00:00Z"),
            message_id="newer",
            receive_count=3,
            queue_arn=stack.queue_arn,
        ),
        sqs_record(status_body(subscription_id=1002), message_id="other", queue_arn=stack.queue_arn),
    )
    responses["newer"] = second(newer, LambdaContext())
    writing.join(timeout=30)
    # THEN after the conflict the SUBSCRIBED is judged again on the other invocation's record: written
    assert responses == {"older": {"batchItemFailures": []}, "newer": {"batchItemFailures": []}}
    assert state(stack) == "SUBSCRIBED"


@pytest.mark.usefixtures("checked")
def test_per_contact_a_contact_whose_read_failed_is_not_written_while_the_others_are(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a portal without the batch scopes (reads and writes go per contact), a workflow that
    # subscribed ada to 1001 in HubSpot at 12:00, and HubSpot failing every call about ada (503)
    stack.emulator.add_private_app_token(TOKEN, profile="no-batch")
    act(
        stack, action="status", subscription_id=1001, state="SUBSCRIBED", timestamp="2026-11-16T12:00:00.000Z"
    )
    stack.emulator.set_faults(
        Faults(
            error_rate=1.0, error_statuses=(503,), latency_ms=300, path_prefixes=(f"{PREFIX}ada@example.com",)
        )
    )
    # WHEN an older upstream NOT_SPECIFIED for ada and an update for grace arrive together
    ada_body = status_body(state="NOT_SPECIFIED", occurredAt="2026-11-16T11:00:00Z")
    event = sqs_event(
        *(
            sqs_record(b, sent_timestamp_ms=SENT_MS, queue_arn=stack.queue_arn)
            for b in (ada_body, status_body("grace@example.com"))
        )
    )
    response = load_handler().handler(event, LambdaContext())
    # THEN ada's read failed inside an answer that read grace: ada's record comes back unwritten (never
    # "nothing newer"), and grace's is applied
    ada_id = event["Records"][0]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": ada_id}]}
    ada_writes = [
        e
        for e in stack.emulator.request_log()
        if e["path"] == f"{PREFIX}ada@example.com" and e["method"] == "POST"
    ]
    assert ada_writes == []
    assert state(stack) == "SUBSCRIBED"
    assert state(stack, "grace@example.com") == "SUBSCRIBED"
