"""Unsubscribe-from-all through the real handler, HubSpot as the emulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from local.hubspot_emulator import Faults
from tests.factories import LambdaContext, status_body, unsubscribe_all_body
from tests.integration.conftest import Stack

WRITE = "/communication-preferences/2026-03/statuses/batch/write"
UNSUBSCRIBE = "/communication-preferences/2026-03/statuses/batch/unsubscribe-all"
Loader = Callable[..., ModuleType]


def calls(stack: Stack) -> list[dict[str, Any]]:
    return [entry for entry in stack.emulator.request_log() if entry["path"] in (WRITE, UNSUBSCRIBE)]


def state(stack: Stack, email: str, subscription_id: int) -> str:
    current = stack.emulator.status(email, subscription_id)
    return "NOT_SPECIFIED" if current is None else str(current["status"])


def failed(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def message_id_of(event: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]) -> str:
    return next(r["messageId"] for r in event["Records"] if predicate(json.loads(r["body"])))


def test_unsubscribe_all_opts_the_contact_out_of_everything(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a contact subscribed to two subscriptions
    handler = load_handler().handler
    stack.send(status_body("ada@example.com", 1001), status_body("ada@example.com", 1002))
    first = stack.receive_event(2)
    assert handler(first, LambdaContext()) == {"batchItemFailures": []}
    # (deleted as the event source mapping deletes a batch without failures: with the queue's 1 s
    # visibility timeout, a slow first invocation would otherwise see them come back below)
    for record in first["Records"]:
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=record["receiptHandle"])
    # WHEN an unsubscribe-all for the contact (another case) arrives
    stack.send(unsubscribe_all_body("ADA@example.com"))
    response = handler(stack.receive_event(1), LambdaContext())
    # THEN one verbose unsubscribe-all call was made and every subscription is UNSUBSCRIBED
    assert response == {"batchItemFailures": []}
    unsubscribe = [call for call in calls(stack) if call["path"] == UNSUBSCRIBE]
    assert len(unsubscribe) == 1
    assert unsubscribe[0]["query"]["channel"] in ("EMAIL", ["EMAIL"])
    assert unsubscribe[0]["query"]["verbose"] in ("true", ["true"])
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"
    assert state(stack, "ada@example.com", 1002) == "UNSUBSCRIBED"
    assert [w["wideStatusType"] for w in stack.emulator.wide_statuses("ada@example.com")] == ["PORTAL_WIDE"]


def test_an_older_write_is_superseded_by_a_newer_unsubscribe_all(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a SUBSCRIBED write at 10:00 and a portal-wide unsubscribe-all at 11:00 in one batch
    stack.send(
        status_body("ada@example.com", 1001, occurredAt="2026-01-05T10:00:00Z"),
        unsubscribe_all_body("ada@example.com", occurredAt="2026-01-05T11:00:00Z"),
    )
    event = stack.receive_event(2)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN only the unsubscribe-all was sent; both messages are done; the contact is opted out
    assert response == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)] == [UNSUBSCRIBE]
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"


def test_a_newer_resubscribe_is_sent_after_the_unsubscribe_all(stack: Stack, load_handler: Loader) -> None:
    # GIVEN an unsubscribe-all at 10:00 and a re-subscribe to 1001 at 11:00, the re-subscribe first in the batch
    stack.send(
        status_body("ada@example.com", 1001, occurredAt="2026-01-05T11:00:00Z"),
        unsubscribe_all_body("ada@example.com", occurredAt="2026-01-05T10:00:00Z"),
    )
    event = stack.receive_event(2)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the opt-out went first, then the re-subscribe: 1001 SUBSCRIBED, the rest still opted out
    assert response == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)] == [UNSUBSCRIBE, WRITE]
    assert state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    assert state(stack, "ada@example.com", 1002) == "UNSUBSCRIBED"


def test_a_resubscribe_is_retried_not_sent_when_the_unsubscribe_all_failed(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN the unsubscribe-all call fails (503 twice: the call and its quick retry); writes do not
    stack.emulator.set_faults(Faults(script=("503", "503"), path_prefixes=(UNSUBSCRIBE,)))
    stack.send(
        unsubscribe_all_body("ada@example.com", occurredAt="2026-01-05T10:00:00Z"),
        status_body("ada@example.com", 1001, occurredAt="2026-01-05T11:00:00Z"),
        status_body("bob@example.com", 1001, occurredAt="2026-01-05T11:00:00Z"),
    )
    event = stack.receive_event(3)
    # WHEN the handler runs with bob's unrelated write in the same batch
    handler = load_handler().handler
    response = handler(event, LambdaContext())
    # THEN the unsubscribe-all and the re-subscribe come back; the re-subscribe was never sent; bob applied
    unsubscribe_id = message_id_of(event, lambda body: "action" in body)
    resubscribe_id = message_id_of(
        event, lambda body: body.get("subscriberIdString") == "ada@example.com" and "action" not in body
    )
    assert sorted(failed(response)) == sorted([unsubscribe_id, resubscribe_id])
    sent_emails = [
        i["subscriberIdString"] for c in calls(stack) if c["path"] == WRITE for i in c["body"]["inputs"]
    ]
    assert sent_emails == ["bob@example.com"]
    assert state(stack, "ada@example.com", 1001) == "NOT_SPECIFIED"


def test_unsubscribes_are_grouped_by_brand(stack: Stack, load_handler: Loader) -> None:
    # GIVEN opt-outs for brand 0 (two contacts), brand 1 (one) and portal-wide (one)
    stack.send(
        unsubscribe_all_body("ada@example.com", 0),
        unsubscribe_all_body("bob@example.com", 0),
        unsubscribe_all_body("cy@example.com", 1),
        unsubscribe_all_body("dee@example.com"),
    )
    event = stack.receive_event(4)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN one call per (channel, brand), each with its query parameter
    assert response == {"batchItemFailures": []}
    by_brand = {}
    for call in calls(stack):
        brand = call["query"].get("businessUnitId")
        brand = brand[0] if isinstance(brand, list) else brand
        by_brand[brand] = sorted(call["body"]["inputs"])
    assert by_brand == {
        "0": ["ada@example.com", "bob@example.com"],
        "1": ["cy@example.com"],
        None: ["dee@example.com"],
    }
    assert [w["wideStatusType"] for w in stack.emulator.wide_statuses("cy@example.com")] == [
        "BUSINESS_UNIT_WIDE"
    ]


def test_an_older_write_goes_before_a_brand_wide_unsubscribe(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a write to 2001 (brand 1) at 10:00 and a brand-0 unsubscribe-all at 11:00
    stack.send(
        unsubscribe_all_body("ada@example.com", 0, occurredAt="2026-01-05T11:00:00Z"),
        status_body("ada@example.com", 2001, occurredAt="2026-01-05T10:00:00Z"),
    )
    event = stack.receive_event(2)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the write went first and still holds (another brand); brand 0 is opted out
    assert response == {"batchItemFailures": []}
    assert [call["path"] for call in calls(stack)] == [WRITE, UNSUBSCRIBE]
    assert state(stack, "ada@example.com", 2001) == "SUBSCRIBED"


def test_an_email_hubspot_rejects_is_dead_lettered(stack: Stack, load_handler: Loader) -> None:
    # GIVEN an address HubSpot rejects (one-letter top-level domain) next to a good one
    stack.send(unsubscribe_all_body("grace@example.c"), unsubscribe_all_body("ada@example.com"))
    event = stack.receive_event(2)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the bad one is in the DLQ with HubSpot's reason and the good one applied
    assert response == {"batchItemFailures": []}
    dead = stack.dead_letters()
    assert [json.loads(d["Body"])["subscriberIdString"] for d in dead] == ["grace@example.c"]
    assert dead[0]["MessageAttributes"]["error_category"]["StringValue"] == "HUBSPOT_REJECTED_ITEM"
    assert state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"
