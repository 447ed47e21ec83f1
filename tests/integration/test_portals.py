"""Many portals, one deployment (README: Many portals), through the real handler: HubSpot is the
emulator serving several portals behind one base URL over loopback HTTP, each portal's secret is in
moto's Secrets Manager, and every portal's state and calls are judged in that portal only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest

from local.aws.provision import create_table
from local.hubspot_emulator import Emulator, Faults, running_emulator
from local.hubspot_emulator.auth import fingerprint
from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.portals import PortalSpec
from tests.factories import LambdaContext, sqs_event, sqs_record, status_body
from tests.integration.conftest import Stack

Loader = Callable[..., ModuleType]
TOKENS = {7: "pat-portal-seven", 8: "pat-portal-eight", 9: "pat-portal-nine"}


@pytest.fixture
def portals(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """Portals 7, 8 and 9 in one emulator; secrets for 7 and 8 only (9's was never created)."""
    pattern = f"t-{uuid.uuid4().hex[:8]}/portal-{{portalId}}"
    for portal in (7, 8):
        stack.secrets.create_secret(
            Name=pattern.replace("{portalId}", str(portal)),
            SecretString=json.dumps({"accessToken": TOKENS[portal]}),
        )
    specs = [PortalSpec(portal, (token,)) for portal, token in TOKENS.items()]
    with running_emulator(portals=specs) as emulator:
        monkeypatch.setenv("HUBSPOT_SECRET_ID", pattern)
        monkeypatch.setenv("HUBSPOT_API_BASE_URL", emulator.base_url)
        yield emulator


def run(stack: Stack, load_handler: Loader, *bodies: dict[str, Any]) -> dict[str, Any]:
    records = [
        sqs_record(body, message_id=f"m{i}", sent_timestamp_ms=1_795_000_000_000, queue_arn=stack.queue_arn)
        for i, body in enumerate(bodies)
    ]
    response: dict[str, Any] = load_handler().handler(sqs_event(*records), LambdaContext())
    return response


def state(emulator: Emulator, portal: int, email: str = "ada@example.com") -> str | None:
    current = emulator.portal(portal).status(email, 1001)
    return None if current is None else str(current["status"])


def failed(response: dict[str, Any]) -> list[str]:
    return sorted(item["itemIdentifier"] for item in response["batchItemFailures"])


def test_a_batch_mixing_portals_lands_each_in_its_own_portal_with_its_own_token(
    portals: Emulator, stack: Stack, load_handler: Loader
) -> None:
    # GIVEN one batch: ada subscribed in portal 7, unsubscribed in portal 8, bob only in portal 8
    response = run(
        stack,
        load_handler,
        status_body(portalId=7),
        status_body(state="UNSUBSCRIBED", portalId="8"),
        status_body("bob@example.com", portalId=8),
    )
    # THEN each portal holds its own messages' states, and nothing of the other's
    assert response == {"batchItemFailures": []}
    assert state(portals, 7) == "SUBSCRIBED"
    assert state(portals, 8) == "UNSUBSCRIBED"
    assert state(portals, 8, "bob@example.com") == "SUBSCRIBED"
    assert state(portals, 7, "bob@example.com") is None
    # AND every call a portal saw carried that portal's token
    for portal in (7, 8):
        log = portals.portal(portal).request_log()
        assert log
        assert {entry["token_fingerprint"] for entry in log} == {fingerprint(TOKENS[portal])}
    assert portals.portal(9).request_log() == []


def test_a_portal_without_a_secret_gets_its_messages_back_and_the_others_are_applied(
    portals: Emulator, stack: Stack, load_handler: Loader
) -> None:
    # GIVEN messages for portal 7 and for portal 9, whose secret does not exist
    response = run(stack, load_handler, status_body(portalId=7), status_body(portalId=9))
    # THEN portal 9's message comes back (retryable, not dead-lettered); portal 7's is applied
    assert failed(response) == ["m1"]
    assert stack.dead_letters() == []
    assert state(portals, 7) == "SUBSCRIBED"
    assert portals.portal(9).request_log() == []


def test_a_message_without_portal_id_is_dead_lettered_as_invalid_in_a_multi_portal_deployment(
    portals: Emulator, stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a message that names no portal, beside one that does
    response = run(stack, load_handler, status_body(), status_body("bob@example.com", portalId=8))
    # THEN it is dead-lettered with the reason, no portal saw it, and the other is applied
    assert response == {"batchItemFailures": []}
    [letter] = stack.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["error_category"]["StringValue"] == "INVALID_MESSAGE"
    assert "portalId is required" in attributes["error_message"]["StringValue"]
    assert state(portals, 7) is None
    assert state(portals, 8) is None
    assert state(portals, 8, "bob@example.com") == "SUBSCRIBED"


def test_a_dead_letter_names_its_portal(portals: Emulator, stack: Stack, load_handler: Loader) -> None:
    # GIVEN a write HubSpot rejects for good (an unknown subscription) in portal 8
    run(stack, load_handler, status_body(subscription_id=999999, portalId=8))
    # THEN its DLQ copy carries portal_id
    [letter] = stack.dead_letters()
    assert letter["MessageAttributes"]["portal_id"]["StringValue"] == "8"


def test_the_ledger_keeps_each_portals_history_apart(
    portals: Emulator, stack: Stack, load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the ordering ledger on, and a newer SUBSCRIBED of ada applied in portal 7
    monkeypatch.setenv(
        "VERSION_TABLE_NAME", create_table(boto3.client("dynamodb"), f"v-{uuid.uuid4().hex[:8]}")
    )
    run(stack, load_handler, status_body(portalId=7, occurredAt="2026-11-16T12:00:00Z"))
    # WHEN an older UNSUBSCRIBED of the same address arrives for portal 8
    response = run(
        stack, load_handler, status_body(state="UNSUBSCRIBED", portalId=8, occurredAt="2026-11-16T10:00:00Z")
    )
    # THEN it is written in portal 8: portal 7's history is not portal 8's
    assert response == {"batchItemFailures": []}
    assert state(portals, 8) == "UNSUBSCRIBED"
    assert state(portals, 7) == "SUBSCRIBED"


def secrets_of(stack: Stack, *portals: int) -> str:
    """A secret per portal under a fresh prefix; returns the ``{portalId}`` pattern naming them."""
    pattern = f"t-{uuid.uuid4().hex[:8]}/portal-{{portalId}}"
    for portal in portals:
        secret = {"accessToken": TOKENS[portal]}
        stack.secrets.create_secret(
            Name=pattern.replace("{portalId}", str(portal)), SecretString=json.dumps(secret)
        )
    return pattern


def one_call_at_a_time(monkeypatch: pytest.MonkeyPatch, pattern: str, emulator: Emulator) -> None:
    """The function on ``emulator``'s portals: one input per call, one call at a time per portal."""
    monkeypatch.setenv("HUBSPOT_SECRET_ID", pattern)
    monkeypatch.setenv("HUBSPOT_API_BASE_URL", emulator.base_url)
    monkeypatch.setenv("HUBSPOT_BATCH_LIMIT", "1")
    monkeypatch.setenv("HUBSPOT_MAX_IN_FLIGHT", "1")


def test_a_portal_out_of_rate_limit_gives_its_records_back_and_holds_no_other_portal(
    stack: Stack, load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN portal 8 allowing 2 calls per 10 s, portal 7 HubSpot's usual limit, one input per call
    pattern = secrets_of(stack, 7, 8)
    tight = PortalSpec(8, (TOKENS[8],), config=EmulatorConfig(portal_id=8, rate_limit_max=2))
    with running_emulator(portals=[PortalSpec(7, (TOKENS[7],)), tight]) as emulator:
        one_call_at_a_time(monkeypatch, pattern, emulator)
        bodies = [status_body(f"p8-{n}@example.com", portalId=8) for n in range(6)]
        bodies += [status_body(f"p7-{n}@example.com", portalId=7) for n in range(3)]
        # WHEN one batch carries both
        response = run(stack, load_handler, *bodies)
        # THEN portal 8 applied what its limit allowed and gave the rest back, without waiting for its
        # window to open again; every record of portal 7 was applied
        applied = [n for n in range(6) if state(emulator, 8, f"p8-{n}@example.com") == "SUBSCRIBED"]
        assert 1 <= len(applied) <= 2
        assert failed(response) == sorted(f"m{n}" for n in range(6) if n not in applied)
        assert all(state(emulator, 7, f"p7-{n}@example.com") == "SUBSCRIBED" for n in range(3))


def test_a_throttled_portal_waits_for_its_limit_while_another_portal_still_delivers(
    stack: Stack, load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN portal 8 allowing 3 calls per 2 s, and portal 7 answering each call in 1.4 s: its three calls,
    # one at a time, take longer than portal 8 needs for three (two slots a window: one is kept back)
    pattern = secrets_of(stack, 7, 8)
    tight = EmulatorConfig(portal_id=8, rate_limit_max=3, rate_limit_interval_ms=2_000)
    with running_emulator(
        portals=[PortalSpec(7, (TOKENS[7],)), PortalSpec(8, (TOKENS[8],), tight)]
    ) as emulator:
        emulator.portal(7).set_faults(Faults(latency_ms=1_400))
        one_call_at_a_time(monkeypatch, pattern, emulator)
        bodies = [status_body(f"p8-{n}@example.com", portalId=8) for n in range(3)]
        bodies += [status_body(f"p7-{n}@example.com", portalId=7) for n in range(3)]
        # WHEN one batch carries both
        response = run(stack, load_handler, *bodies)
        # THEN portal 8 waited for its next window while portal 7 was still delivering (that wait held
        # nobody back) and applied all three; portal 7 applied all three
        assert failed(response) == []
        assert all(state(emulator, 8, f"p8-{n}@example.com") == "SUBSCRIBED" for n in range(3))
        assert all(state(emulator, 7, f"p7-{n}@example.com") == "SUBSCRIBED" for n in range(3))


def test_a_portal_whose_read_was_answered_waits_for_its_next_slot_after_the_others_are_done(
    stack: Stack, load_handler: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the freshness check on, portal 8 allowing 2 calls per second (one slot a window for the
    # function: one is kept back) and portal 7 HubSpot's usual limit, one contact each
    pattern = secrets_of(stack, 7, 8)
    tight = EmulatorConfig(portal_id=8, rate_limit_max=2, rate_limit_interval_ms=1_000)
    with running_emulator(
        portals=[PortalSpec(7, (TOKENS[7],)), PortalSpec(8, (TOKENS[8],), tight)]
    ) as emulator:
        one_call_at_a_time(monkeypatch, pattern, emulator)
        monkeypatch.setenv("HUBSPOT_FRESHNESS_CHECK", "all")
        # WHEN one batch carries both: portal 7 is done long before portal 8's second read has a slot
        response = run(
            stack, load_handler, status_body("p8@example.com", portalId=8), status_body(portalId=7)
        )
        # THEN portal 8, its first read answered, waited for the slots of its second read and its
        # write instead of giving its record back to spend that read again on the next receive
        assert failed(response) == []
        assert state(emulator, 8, "p8@example.com") == "SUBSCRIBED"
        assert state(emulator, 7) == "SUBSCRIBED"
        assert len(emulator.portal(8).request_log()) == 3
