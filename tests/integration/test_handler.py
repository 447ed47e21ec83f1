"""The real handler over real connections: events built from real SQS receives (moto server), HubSpot as
the emulator over loopback HTTP, the token from moto's Secrets Manager."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.hubspot_emulator import Faults
from tests.factories import LambdaContext, sqs_event, sqs_record, status_body
from tests.integration.conftest import TOKEN, Stack

WRITE = "/communication-preferences/2026-03/statuses/batch/write"
ROOT = Path(__file__).resolve().parents[2]
Loader = Callable[..., ModuleType]


def writes(stack: Stack) -> list[dict[str, Any]]:
    return [entry for entry in stack.emulator.request_log() if entry["path"] == WRITE]


def state(stack: Stack, email: str, subscription_id: int) -> str:
    """HubSpot's effective status: a subscription never written is NOT_SPECIFIED."""
    current = stack.emulator.status(email, subscription_id)
    return "NOT_SPECIFIED" if current is None else str(current["status"])


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def body_of(event: dict[str, Any], index: int) -> dict[str, Any]:
    return json.loads(event["Records"][index]["body"])


def test_valid_updates_are_applied_and_deleted(stack: Stack, load_handler: Loader) -> None:
    # GIVEN three valid updates on the queue
    stack.send(
        status_body(
            "ada@example.com",
            1001,
            "SUBSCRIBED",
            legalBasis="CONSENT_WITH_NOTICE",
            legalBasisExplanation="form",
        ),
        status_body("bob@example.com", 1002, "UNSUBSCRIBED"),
        status_body("cy@example.com", "1003", "NOT_SPECIFIED"),
    )
    event = stack.receive_event(3)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN nothing comes back, one HubSpot call carried all three, and HubSpot holds each state
    assert response == {"batchItemFailures": []}
    assert len(writes(stack)) == 1
    assert stack.emulator.status("ada@example.com", 1001)["status"] == "SUBSCRIBED"
    assert stack.emulator.status("bob@example.com", 1002)["status"] == "UNSUBSCRIBED"
    assert state(stack, "cy@example.com", 1003) == "NOT_SPECIFIED"
    assert writes(stack)[0]["body"]["inputs"][2]["subscriptionId"] == 1003  # a digit string became an int
    assert stack.dead_letters() == []


def test_duplicates_send_only_the_newest_update(stack: Stack, load_handler: Loader) -> None:
    # GIVEN three updates for one key (case differs) and the newest is not the last one sent
    stack.send(
        status_body("Ada@Example.com", 1001, "UNSUBSCRIBED", occurredAt="2026-01-01T10:00:00Z"),
        status_body("ada@example.com", 1001, "SUBSCRIBED", occurredAt="2026-01-01T12:00:00Z"),
        status_body("ADA@example.com", 1001, "UNSUBSCRIBED", occurredAt="2026-01-01T11:00:00+00:00"),
    )
    event = stack.receive_event(3)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN one input was sent (the 12:00 one), all three messages are done, HubSpot holds SUBSCRIBED
    sent = writes(stack)
    assert [len(call["body"]["inputs"]) for call in sent] == [1]
    assert sent[0]["body"]["inputs"][0]["statusState"] == "SUBSCRIBED"
    assert response == {"batchItemFailures": []}
    assert stack.emulator.status("ada@example.com", 1001)["status"] == "SUBSCRIBED"


@pytest.mark.parametrize(("count", "sizes"), [(100, [100]), (101, [100, 1]), (250, [100, 100, 50])])
def test_chunks_hold_at_most_the_batch_limit(
    stack: Stack, load_handler: Loader, count: int, sizes: list[int]
) -> None:
    # GIVEN `count` distinct updates in one event (built directly: moto is slow at this size)
    from tests.factories import sqs_event, sqs_record

    event = sqs_event(
        *(
            sqs_record(status_body(f"user{n}@example.com", 1001), queue_arn=stack.queue_arn)
            for n in range(count)
        )
    )
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the calls carry at most 100 inputs each and every update applied
    assert sorted(len(call["body"]["inputs"]) for call in writes(stack)) == sorted(sizes)
    assert response == {"batchItemFailures": []}
    assert stack.emulator.status(f"user{count - 1}@example.com", 1001)["status"] == "SUBSCRIBED"


def test_per_item_errors_go_to_the_dlq_and_the_rest_apply(stack: Stack, load_handler: Loader) -> None:
    # GIVEN one update for a subscription HubSpot does not know, among good ones
    stack.send(
        status_body("ada@example.com", 1001),
        status_body("bob@example.com", 999999),
        status_body("cy@example.com", 1002),
    )
    event = stack.receive_event(3)
    # WHEN the handler runs (the emulator answers 207 with a per-item error)
    response = load_handler().handler(event, LambdaContext())
    # THEN nothing is retried, the bad one is in the DLQ with its reason, the good ones applied
    assert response == {"batchItemFailures": []}
    assert writes(stack)[0]["status"] == 207
    dead = stack.dead_letters()
    assert len(dead) == 1
    assert json.loads(dead[0]["Body"])["subscriptionId"] == 999999
    attributes = dead[0]["MessageAttributes"]
    assert attributes["error_category"]["StringValue"] == "HUBSPOT_REJECTED_ITEM"
    assert "999999" in attributes["error_message"]["StringValue"]
    bad = next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["subscriptionId"] == 999999)
    assert attributes["original_message_id"]["StringValue"] == bad
    assert stack.emulator.status("ada@example.com", 1001)["status"] == "SUBSCRIBED"
    assert stack.emulator.status("cy@example.com", 1002)["status"] == "SUBSCRIBED"


@pytest.mark.parametrize(
    ("message_id", "shown"), [("same-id", "same-id"), ("", "-")], ids=["colliding", "missing"]
)
def test_dead_letter_copies_name_the_sqs_message_id_of_records_sharing_one(
    stack: Stack, load_handler: Loader, message_id: str, shown: str
) -> None:
    # GIVEN two invalid records delivered with the same messageId (or none)
    stack.send("not json", "also not json")
    event = stack.receive_event(2)
    for record in event["Records"]:
        record["messageId"] = message_id
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN both are dead-lettered, each copy naming the id SQS gave it, not one made for the invocation
    assert response == {"batchItemFailures": []}
    dead = stack.dead_letters()
    assert sorted(d["Body"] for d in dead) == ["also not json", "not json"]
    assert [d["MessageAttributes"]["original_message_id"]["StringValue"] for d in dead] == [shown, shown]


def test_invalid_records_never_reach_hubspot(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a typo'd field, garbage and a bad email next to one good update
    stack.send(
        {"subscriberIdString": "ada@example.com", "subscriptionId": 1001, "status": "SUBSCRIBED"},
        "not json at all",
        status_body("not-an-email", 1001),
        status_body("good@example.com", 1001),
    )
    event = stack.receive_event(4)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN only the good one was sent; the three invalid ones are dead-lettered with a reason
    assert response == {"batchItemFailures": []}
    assert [len(call["body"]["inputs"]) for call in writes(stack)] == [1]
    dead = stack.dead_letters()
    assert len(dead) == 3
    assert {d["MessageAttributes"]["error_category"]["StringValue"] for d in dead} == {"INVALID_MESSAGE"}
    reasons = " | ".join(d["MessageAttributes"]["error_message"]["StringValue"] for d in dead)
    assert "did you mean statusState" in reasons
    assert "not valid JSON" in reasons
    assert "not a valid email" in reasons
    originals = {d["MessageAttributes"]["original_message_id"]["StringValue"] for d in dead}
    good = next(r["messageId"] for r in event["Records"] if "good@example.com" in r["body"])
    assert originals == set(ids(event)) - {good}


def test_unmatched_errors_leave_their_inputs_retryable(stack: Stack, load_handler: Loader) -> None:
    # GIVEN HubSpot reports per-item errors whose context names nothing
    stack.emulator.set_faults(Faults(nameless_context=True))
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 999999))
    event = stack.receive_event(2)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the input with no result comes back (never silently a success); the applied one does not
    bad = next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["subscriptionId"] == 999999)
    assert failed_ids(response) == [bad]
    assert stack.dead_letters() == []


def test_processing_status_means_not_known_to_be_applied(stack: Stack, load_handler: Loader) -> None:
    # GIVEN HubSpot answers status PROCESSING
    stack.emulator.set_faults(Faults(processing=True))
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 1002))
    event = stack.receive_event(2)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN both come back
    assert sorted(failed_ids(response)) == sorted(ids(event))


def test_whole_batch_400_is_bisected_to_the_bad_input(stack: Stack, load_handler: Loader) -> None:
    # GIVEN HubSpot rejects a whole batch when any one item is bad, and one of eight is bad
    stack.emulator.set_faults(Faults(whole_batch_400=True))
    bodies = [status_body(f"user{n}@example.com", 1001) for n in range(7)] + [
        status_body("bad@example.com", 999999)
    ]
    stack.send(*bodies)
    event = stack.receive_event(8)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the seven good ones applied, the bad one is dead-lettered, and bisection took several calls
    assert response == {"batchItemFailures": []}
    assert all(stack.emulator.status(f"user{n}@example.com", 1001) for n in range(7))
    dead = stack.dead_letters()
    assert [json.loads(d["Body"])["subscriberIdString"] for d in dead] == ["bad@example.com"]
    assert dead[0]["MessageAttributes"]["error_category"]["StringValue"] == "HUBSPOT_REJECTED_BATCH"
    assert len(writes(stack)) > 2


@pytest.mark.parametrize(
    ("faults", "category"),
    [
        (Faults(script=("503", "503")), "HUBSPOT_UNAVAILABLE"),
        (Faults(script=("drop", "drop")), "NETWORK"),
        (Faults(script=("hang",), hang_s=5), "NETWORK"),
        (Faults(forced_missing_scopes=True), "MISSING_SCOPES"),
        (Faults(throttle_next=10), "RATE_LIMITED"),
    ],
    ids=["5xx", "dropped-connection", "timeout", "403-missing-scopes", "429-no-time-to-wait"],
)
def test_retryable_failures_come_back(
    stack: Stack, load_handler: Loader, faults: Faults, category: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN HubSpot fails in a retryable way
    stack.emulator.set_faults(faults)
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 1002))
    event = stack.receive_event(2)
    # WHEN the handler runs (with little enough time that a throttled call cannot wait out the window)
    response = load_handler().handler(event, LambdaContext(timeout_ms=12_000))
    # THEN both messages come back, nothing is dead-lettered, and the log names the category
    assert sorted(failed_ids(response)) == sorted(ids(event))
    assert stack.dead_letters() == []
    summaries = [r for r in caplog.records if r.getMessage() == "batch processed"]
    assert len(summaries) == 1
    assert summaries[0].retryable == 2
    assert category in summaries[0].failure_categories


def test_the_garbage_collector_is_paused_for_a_batch_and_restored_after(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a warm environment with the collector on, and a batch that allocates far more objects
    # than the collector's first threshold (so without the pause it would run during the batch)
    app = load_handler()
    stack.send(status_body("warm@example.com", 1001))
    assert app.handler(stack.receive_event(1), LambdaContext()) == {"batchItemFailures": []}
    assert gc.isenabled()
    records = [
        sqs_record(status_body(f"user{n}@example.com", 1001), message_id=f"m-{n}", queue_arn=stack.queue_arn)
        for n in range(500)
    ]
    collections: list[str] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        # A collection runs in the thread whose allocation triggered it: note it when that thread was
        # running the batch's code (the function's package, on the main thread or a HubSpot worker)
        frame = sys._getframe(1)
        while frame is not None and phase == "start":
            if f"{os.sep}status_writer{os.sep}status_writer{os.sep}" in frame.f_code.co_filename:
                collections.append(frame.f_code.co_name)
                return
            frame = frame.f_back

    # WHEN the handler runs it
    gc.callbacks.append(count)
    try:
        response = app.handler(sqs_event(*records), LambdaContext())
    finally:
        gc.callbacks.remove(count)
    # THEN it applied with no collection while the batch ran, and the collector is on again
    assert response == {"batchItemFailures": []}
    assert collections == []
    assert gc.isenabled()
    # AND when code inside the pause raises, the collector is off inside and on again after
    seen_inside: list[bool] = []

    def fail_while_paused() -> None:
        with app.collector_paused():
            seen_inside.append(gc.isenabled())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_while_paused()
    assert seen_inside == [False]
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off(load_handler: Loader) -> None:
    app = load_handler()
    gc.disable()
    try:
        with app.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_invocation_of_a_hundred_calls_publishes_its_metrics_once_without_a_warning(
    stack: Stack, load_handler: Loader, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    # GIVEN 100 updates sent one per call (as a 10,000-record batch makes 100 calls)
    records = [
        sqs_record(status_body(f"user{n}@example.com", 1001), message_id=f"m-{n}", queue_arn=stack.queue_arn)
        for n in range(100)
    ]
    app = load_handler(HUBSPOT_BATCH_LIMIT="1")
    capsys.readouterr()
    # WHEN the handler runs
    response = app.handler(sqs_event(*records), LambdaContext())
    # THEN one EMF document carries the batch's metrics (Powertools publishes and empties the set when a
    # metric reaches 100 values, and the end-of-invocation flush then warns about an empty set)
    assert response == {"batchItemFailures": []}
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    batch = [document for document in documents if "RecordsReceived" in document]
    assert len(batch) == 1
    assert batch[0]["RecordsReceived"] == [100.0]
    assert batch[0]["HubSpotCalls"] == [100.0]
    assert len(batch[0]["HubSpotLatency"]) == 99
    assert not [w for w in recwarn if "No application metrics" in str(w.message)]


def test_a_secrets_manager_that_never_answers_costs_seconds_not_the_invocation(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a Secrets Manager endpoint on loopback that accepts connections and never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        stack.send(status_body("ada@example.com", 1001))
        event = stack.receive_event(1)
        app = load_handler(AWS_ENDPOINT_URL_SECRETS_MANAGER=f"http://127.0.0.1:{silent.getsockname()[1]}")
        responses: list[dict[str, Any]] = []
        # WHEN the handler runs (boto3's default client would wait 60 s per attempt, five times)
        worker = threading.Thread(target=lambda: responses.append(app.handler(event, LambdaContext())))
        worker.start()
        worker.join(timeout=20)
        # THEN it gave up within seconds, sent nothing, and the message comes back
        assert not worker.is_alive(), "the handler was still waiting for Secrets Manager after 20 s"
        assert failed_ids(responses[0]) == ids(event)
        assert writes(stack) == []
    finally:
        silent.close()


def test_a_short_throttle_is_waited_out_within_the_invocation(stack: Stack, load_handler: Loader) -> None:
    # GIVEN HubSpot throttles the first call (ten-secondly, with Retry-After 1 s)
    stack.emulator.configure(retry_after_seconds=1)
    stack.emulator.set_faults(Faults(throttle_next=1))
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs with plenty of time
    response = load_handler().handler(event, LambdaContext())
    # THEN it waited and succeeded: two calls, the second applied, sent after Retry-After, not after
    # the whole 10 s window the 429's rate-limit headers describe
    assert response == {"batchItemFailures": []}
    log = writes(stack)
    assert [call["status"] for call in log] == [429, 200]
    refused, again = (datetime.fromisoformat(entry["at"]) for entry in log)
    assert 1.0 <= (again - refused).total_seconds() < 5.0


def test_a_throttle_without_retry_after_waits_until_the_oldest_own_call_leaves_the_window(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN one call at a time, one update per call, 10 calls per 2 s, 600 ms per answer, no
    # Retry-After, and HubSpot refusing the second call with a ten-secondly 429
    stack.emulator.configure(rate_limit_max=10, rate_limit_interval_ms=2000)
    stack.emulator.set_faults(Faults(latency_ms=600, script=("ok", "429")))
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 1001))
    event = stack.receive_event(2)
    # WHEN the handler runs
    app = load_handler(HUBSPOT_BATCH_LIMIT="1", HUBSPOT_MAX_IN_FLIGHT="1")
    response = app.handler(event, LambdaContext())
    # THEN both applied: the refused call was sent again once the first call had left the window,
    # not a whole interval after the refusal
    assert response == {"batchItemFailures": []}
    log = writes(stack)
    assert [entry["status"] for entry in log] == [200, 429, 200]
    first, refused, again = (datetime.fromisoformat(entry["at"]) for entry in log)
    assert (again - first).total_seconds() >= 2.0
    assert (again - refused).total_seconds() < 2.0


def test_daily_limit_parks_messages_until_the_reset(stack: Stack, load_handler: Loader) -> None:
    # GIVEN HubSpot's daily limit is used up and the queue's own visibility timeout is 1 s
    stack.emulator.set_faults(Faults(daily_exhausted=True))
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN exactly one call was made (no retry in-invocation) and the message stays invisible far
    # beyond the queue's 1 s default (it was parked until the daily reset)
    assert failed_ids(response) == ids(event)
    assert len(writes(stack)) == 1
    time.sleep(1.5)
    assert stack.queue_counts() == (0, 1)


def _hubspot_down(stack: Stack) -> None:
    stack.emulator.set_faults(Faults(error_rate=1.0))


def _token_revoked(stack: Stack) -> None:
    stack.emulator.revoke_token(TOKEN)


@pytest.mark.parametrize(
    ("fault", "base_s"),
    [
        # a 30 s base backoff while HubSpot is down
        (_hubspot_down, "30"),
        # no base backoff, the 60 s cap, and a revoked token not rotated: it waits for the token's fix,
        # not for time, so it does not spend its receives meanwhile
        (_token_revoked, "0"),
    ],
    ids=["backoff-base", "revoked-token-waits-the-cap"],
)
def test_retryable_messages_get_the_backoff_visibility(
    stack: Stack, load_handler: Loader, fault: Callable[[Stack], None], base_s: str
) -> None:
    # GIVEN a 1 s queue visibility timeout and the fault
    fault(stack)
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler(RETRY_BACKOFF_BASE_SECONDS=base_s).handler(event, LambdaContext())
    # THEN the message is still invisible after the queue's own timeout would have expired
    assert failed_ids(response) == ids(event)
    time.sleep(1.5)
    assert stack.queue_counts() == (0, 1)


def test_zero_backoff_makes_retryable_messages_visible_at_once(stack: Stack, load_handler: Loader) -> None:
    # GIVEN no backoff (base 0), a queue whose own visibility timeout is long, and HubSpot down
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "120"})
    stack.emulator.set_faults(Faults(error_rate=1.0))
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    load_handler(RETRY_BACKOFF_BASE_SECONDS="0").handler(event, LambdaContext())
    # THEN the message is visible again right away (the function changed its visibility to 0)
    assert stack.queue_counts() == (1, 0)


def test_401_after_rotation_refetches_the_secret_once(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a warm function that has cached the old token
    handler = load_handler().handler
    stack.send(status_body("ada@example.com", 1001))
    assert handler(stack.receive_event(1), LambdaContext()) == {"batchItemFailures": []}
    # WHEN the token is revoked, a new one issued and the secret rotated
    stack.emulator.revoke_token(TOKEN)
    stack.emulator.add_private_app_token("pat-na1-rotated")
    stack.put_secret({"accessToken": "pat-na1-rotated"})
    stack.send(status_body("bob@example.com", 1001))
    response = handler(stack.receive_event(1), LambdaContext())
    # THEN the 401 made it read the secret again and the retry succeeded
    assert response == {"batchItemFailures": []}
    assert [call["status"] for call in writes(stack)] == [200, 401, 200]


def test_401_with_no_new_secret_is_retryable(stack: Stack, load_handler: Loader) -> None:
    # GIVEN the token is revoked and the secret was not rotated
    stack.emulator.revoke_token(TOKEN)
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN exactly one refresh was tried (two calls) and the message comes back
    assert failed_ids(response) == ids(event)
    assert [call["status"] for call in writes(stack)] == [401, 401]


def test_a_record_refused_on_its_last_receive_is_dead_lettered_with_its_last_failure(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a revoked token, not rotated, and a queue that redrives after 10 receives (no backoff at all:
    # a refused token otherwise waits the backoff cap: test_retryable_messages_get_the_backoff_visibility)
    stack.emulator.revoke_token(TOKEN)
    handler = load_handler(RETRY_BACKOFF_MAX_SECONDS="0").handler
    stack.send(status_body("ada@example.com", 1001))
    # WHEN its first nine receives are refused THEN it comes back each time, as retryable
    for receive in range(1, 10):
        event = stack.receive_event(1)
        assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == str(receive)
        assert failed_ids(handler(event, LambdaContext())) == ids(event)
    # WHEN its tenth receive, in one batch with a fresh message, is refused too
    stack.send(status_body("bob@example.com", 1001))
    event = stack.receive_event(2)
    response = handler(event, LambdaContext())
    # THEN the fresh one comes back, and the tenth goes to the DLQ with why, not to SQS's redrive
    fresh = next(
        r["messageId"] for r in event["Records"] if r["attributes"]["ApproximateReceiveCount"] == "1"
    )
    assert failed_ids(response) == [fresh]
    dead = stack.dead_letters()
    assert [json.loads(letter["Body"])["subscriberIdString"] for letter in dead] == ["ada@example.com"]
    attributes = dead[0]["MessageAttributes"]
    assert attributes["error_category"]["StringValue"] == "RECEIVES_EXHAUSTED"
    assert attributes["error_message"]["StringValue"].startswith(
        "receive 10 of maxReceiveCount 10; last: AUTHENTICATION"
    )
    assert attributes["receive_count"]["StringValue"] == "10"
    assert {call["status"] for call in writes(stack)} == {401}


def test_oauth_tokens_are_exchanged_cached_and_renewed(stack: Stack, load_handler: Loader) -> None:
    # GIVEN an OAuth app whose access tokens live 3 s, and the secret holding the refresh grant
    stack.emulator.add_oauth_app("client-1", "client-secret-1", "refresh-1", access_token_ttl_s=3)
    stack.put_secret({"clientId": "client-1", "clientSecret": "client-secret-1", "refreshToken": "refresh-1"})
    handler = load_handler().handler
    # WHEN two invocations run back to back, then a third after the token expired
    for email in ("a@example.com", "b@example.com"):
        stack.send(status_body(email, 1001))
        assert handler(stack.receive_event(1), LambdaContext()) == {"batchItemFailures": []}
    time.sleep(3.2)
    stack.send(status_body("c@example.com", 1001))
    assert handler(stack.receive_event(1), LambdaContext()) == {"batchItemFailures": []}
    # THEN one exchange served the first two calls and a second one the third
    token_calls = [e for e in stack.emulator.request_log() if e["path"] == "/oauth/v1/token"]
    assert len(token_calls) == 2
    assert [call["status"] for call in writes(stack)] == [200, 200, 200]


def test_oauth_camel_case_token_response_is_accepted(stack: Stack, load_handler: Loader) -> None:
    # GIVEN the token endpoint answers in camelCase
    stack.emulator.configure(oauth_response_style="camel")
    stack.emulator.add_oauth_app("client-2", "secret-2", "refresh-2")
    stack.put_secret({"clientId": "client-2", "clientSecret": "secret-2", "refreshToken": "refresh-2"})
    stack.send(status_body("ada@example.com", 1001))
    # WHEN the handler runs
    response = load_handler().handler(stack.receive_event(1), LambdaContext())
    # THEN the write went through with the exchanged token
    assert response == {"batchItemFailures": []}


def test_unknown_refresh_token_is_retryable(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a refresh token HubSpot does not know
    stack.put_secret({"clientId": "nobody", "clientSecret": "x", "refreshToken": "unknown"})
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN nothing was written and the message comes back
    assert failed_ids(response) == ids(event)
    assert writes(stack) == []


def test_dlq_send_failure_returns_permanent_failures_to_the_queue(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a DLQ URL that does not exist (sends fail) and one invalid record
    stack.send("{}", status_body("ada@example.com", 1001))
    event = stack.receive_event(2)
    missing = stack.dlq_url.rsplit("/", 1)[0] + "/no-such-queue"
    # WHEN the handler runs
    response = load_handler(DEAD_LETTER_QUEUE_URL=missing).handler(event, LambdaContext())
    # THEN the invalid record is reported as a failure (SQS redrive takes over); the good one is done
    invalid = next(r["messageId"] for r in event["Records"] if r["body"] == "{}")
    assert failed_ids(response) == [invalid]


def test_no_dlq_configured_returns_permanent_failures_to_the_queue(
    stack: Stack, load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no DLQ configured
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL")
    stack.send("[1, 2]")
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the invalid record comes back rather than being dropped
    assert failed_ids(response) == ids(event)


def test_fifo_reports_every_later_message_of_a_failed_group(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a FIFO batch (_grouped_batch) WHEN the handler runs
    response = _grouped_batch(stack, load_handler, f"{stack.queue_arn}.fifo")
    # THEN a2 and everything after it in group A come back, in order; b1 and a1 do not
    assert failed_ids(response) == ["a2", "a3"]
    assert stack.emulator.status("a3@example.com", 1001) is not None  # a3 applied, yet held back


def test_a_standard_queue_with_message_groups_reports_only_its_own_failures(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the same batch from a standard (fair) queue: MessageGroupId is a tenant key there
    response = _grouped_batch(stack, load_handler, stack.queue_arn)
    # THEN only a2 comes back: a3, applied, is not re-sent toward maxReceiveCount
    assert failed_ids(response) == ["a2"]


def _grouped_batch(stack: Stack, load_handler: Loader, queue_arn: str) -> dict[str, Any]:
    """Group A = a1, a2, a3; group B = b1; one input per call, sent in order, and HubSpot fails the
    second call (a2) twice (the quick retry included)."""
    from tests.factories import sqs_event, sqs_record

    records = [
        sqs_record(
            status_body(f"{name}@example.com", 1001),
            message_id=name,
            group_id=name[0].upper(),
            queue_arn=queue_arn,
        )
        for name in ("a1", "a2", "a3", "b1")
    ]
    stack.emulator.set_faults(Faults(script=("ok", "503", "503")))
    handler = load_handler(HUBSPOT_BATCH_LIMIT="1", HUBSPOT_MAX_IN_FLIGHT="1").handler
    response: dict[str, Any] = handler(sqs_event(*records), LambdaContext())
    return response


def test_no_call_starts_without_time_for_it(stack: Stack, load_handler: Loader) -> None:
    # GIVEN an invocation with less time left than one call's timeout plus the safety margin
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 1002))
    event = stack.receive_event(2)
    # WHEN the handler runs with 4 s left (call budget 3 s + 5 s margin)
    started = time.monotonic()
    response = load_handler().handler(event, LambdaContext(timeout_ms=4_000))
    # THEN no call was made, both come back, and it returned well within the time left
    assert writes(stack) == []
    assert sorted(failed_ids(response)) == sorted(ids(event))
    assert time.monotonic() - started < 4


def run_in_own_process(event: dict[str, Any]) -> str:
    """Run the real handler in a fresh interpreter (a cold start) and return all it wrote."""
    script = (
        "import json, sys; import app; from tests.factories import LambdaContext; "
        "print(json.dumps(app.handler(json.load(sys.stdin), LambdaContext())))"
    )
    paths = os.pathsep.join([str(ROOT / "functions" / "status_writer"), str(ROOT)])
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": paths},
        timeout=60,
        check=True,
    )
    return run.stdout + run.stderr


def test_logs_never_hold_the_token_or_raw_emails(stack: Stack) -> None:
    # GIVEN debug logging and emails that end up in every kind of log line: a 401-and-refetch
    # invocation, then one with an email HubSpot rejects (its error message quotes the address), an
    # unknown subscription and an invalid record
    emails = ["ada.lovelace@example.com", "grace.hopper@example.c", "alan.turing@example.net"]
    stack.emulator.revoke_token(TOKEN)
    stack.send(status_body(emails[0], 1001))
    first = run_in_own_process(stack.receive_event(1))
    stack.emulator.add_private_app_token(TOKEN)
    stack.send(status_body(emails[1], 1001), status_body(emails[0], 999999), status_body(emails[2], "x"))
    second = run_in_own_process(stack.receive_event(3))
    logs = first + second
    # THEN both paths ran and were logged per record...
    assert [call["status"] for call in writes(stack)] == [401, 401, 207]
    assert logs.count('"record outcome"') == 4
    assert "Invalid email address" in logs
    # ...yet neither the token nor any raw email (or its local part) appears anywhere
    assert TOKEN not in logs
    assert TOKEN.split("-", 2)[2] not in logs
    for email in emails:
        assert email not in logs
        assert email.split("@")[0] not in logs
    assert "@example.c'" in logs  # the masked form keeps the domain


def test_missing_settings_fail_at_start_up(load_handler: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no secret id and a plain-http, non-loopback base URL
    monkeypatch.delenv("HUBSPOT_SECRET_ID")
    monkeypatch.setenv("HUBSPOT_API_BASE_URL", "http://api.hubapi.com")
    # WHEN the module is imported (the init phase) THEN it fails with both problems named
    from status_writer.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="HUBSPOT_SECRET_ID") as raised:
        load_handler()
    assert "must use https" in str(raised.value)


def test_a_configured_daily_retry_replaces_the_wait_until_midnight(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN HubSpot's daily limit is used up and the function parks such messages for 2 s only
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "120"})
    stack.emulator.set_faults(Faults(daily_exhausted=True))
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = load_handler(DAILY_LIMIT_RETRY_SECONDS="2").handler(event, LambdaContext())
    # THEN the message is invisible for those 2 s, not for the queue's 120 s or until midnight
    assert failed_ids(response) == ids(event)
    assert stack.queue_counts() == (0, 1)
    time.sleep(2.5)
    assert stack.queue_counts() == (1, 0)
