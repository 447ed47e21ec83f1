"""Per-contact mode through the real handler, against an emulated portal whose token lacks the batch
scopes: everything still applies through the per-contact endpoints, in order, without failures or
dead letters, and the function learns from the first 403 instead of hammering the batch routes."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.factories import LambdaContext, status_body, unsubscribe_all_body
from tests.integration.conftest import TOKEN, Stack

Loader = Callable[..., ModuleType]
BATCH_ROUTES = {"statuses/batch/write", "statuses/batch/unsubscribe-all"}
CONTACT_ROUTES = {"statuses/{subscriberIdString}", "statuses/{subscriberIdString}/unsubscribe-all"}


def _routes(stack: Stack) -> list[str]:
    return [entry["route"] for entry in stack.emulator.request_log()]


def _state(stack: Stack, email: str, subscription_id: int) -> str:
    current = stack.emulator.status(email, subscription_id)
    return "NOT_SPECIFIED" if current is None else str(current["status"])


def _mixed(stack: Stack) -> None:
    """Writes of ten contacts; one of them opts out of all at 10:00 and re-subscribes to 1002 at 11:00."""
    stack.send(*(status_body(f"c{n}@example.com", 1001, occurredAt="2026-01-05T09:00:00Z") for n in range(9)))
    stack.send(
        status_body("ada@example.com", 1002, occurredAt="2026-01-05T11:00:00Z"),
        unsubscribe_all_body("ada@example.com", occurredAt="2026-01-05T10:00:00Z"),
        status_body("ada@example.com", 1001, "UNSUBSCRIBED", occurredAt="2026-01-05T09:00:00Z"),
    )


@pytest.fixture
def no_batch_scopes(stack: Stack) -> Stack:
    """The stack's token re-registered without the batch scopes (a portal on a lower tier)."""
    stack.emulator.add_private_app_token(TOKEN, profile="no-batch")
    return stack


def test_without_batch_scopes_a_mixed_batch_reaches_its_newest_state_per_contact(
    no_batch_scopes: Stack, load_handler: Loader, caplog: pytest.LogCaptureFixture
) -> None:
    stack = no_batch_scopes
    # GIVEN writes, an unsubscribe-all, and a re-subscribe after it, for a portal without batch scopes
    handler = load_handler().handler
    _mixed(stack)
    # WHEN the handler runs once
    with caplog.at_level("INFO"):
        response = handler(stack.receive_event(12), LambdaContext())
    # THEN nothing failed, nothing was dead-lettered, and every contact is in its newest state
    assert response == {"batchItemFailures": []}
    assert stack.dead_letters() == []
    assert all(_state(stack, f"c{n}@example.com", 1001) == "SUBSCRIBED" for n in range(9))
    assert _state(stack, "ada@example.com", 1002) == "SUBSCRIBED"  # re-subscribed after the opt-out
    assert _state(stack, "ada@example.com", 1001) == "UNSUBSCRIBED"
    assert _state(stack, "ada@example.com", 1003) == "UNSUBSCRIBED"
    # AND the per-contact endpoints did the work after at most one 403 per batch route
    routes = _routes(stack)
    refused = [e for e in stack.emulator.request_log() if e["status"] == 403]
    assert 1 <= len(refused) <= 2
    assert {e["route"] for e in refused} <= BATCH_ROUTES
    assert routes.count("statuses/{subscriberIdString}") == 10
    assert routes.count("statuses/{subscriberIdString}/unsubscribe-all") == 1
    # AND the switch was logged once at WARNING, naming the missing scope
    warnings = [record for record in caplog.records if "goes per contact" in record.getMessage()]
    assert [w.levelname for w in warnings] == ["WARNING"] * len(warnings)
    assert 1 <= len(warnings) <= 2
    assert warnings[0].__dict__["missing_scopes"] == ["communication_preferences.statuses.batch.write"]


def test_a_second_invocation_makes_no_batch_call(no_batch_scopes: Stack, load_handler: Loader) -> None:
    stack = no_batch_scopes
    # GIVEN a warm environment that learned the portal lacks the batch scopes
    handler = load_handler().handler
    _mixed(stack)
    assert handler(stack.receive_event(12), LambdaContext()) == {"batchItemFailures": []}
    before = len(stack.emulator.request_log())
    # WHEN another invocation follows moments later
    stack.send(status_body("late@example.com", 1003), unsubscribe_all_body("later@example.com"))
    response = handler(stack.receive_event(2), LambdaContext())
    # THEN it applied through the per-contact endpoints only
    assert response == {"batchItemFailures": []}
    second = _routes(stack)[before:]
    assert sorted(second) == sorted(CONTACT_ROUTES)
    assert _state(stack, "late@example.com", 1003) == "SUBSCRIBED"


def test_a_bad_input_per_contact_is_dead_lettered_with_hubspots_reason(
    no_batch_scopes: Stack, load_handler: Loader
) -> None:
    stack = no_batch_scopes
    # GIVEN a write to a subscription the portal does not have, next to a good one
    handler = load_handler(HUBSPOT_BATCH_MODE="per-contact").handler
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 999999))
    # WHEN the handler runs
    response = handler(stack.receive_event(2), LambdaContext())
    # THEN the good one applied and the bad one is in the DLQ with the reason, no batch call made
    assert response == {"batchItemFailures": []}
    assert _state(stack, "ada@example.com", 1001) == "SUBSCRIBED"
    dead = stack.dead_letters()
    assert len(dead) == 1
    attributes: dict[str, Any] = dead[0]["MessageAttributes"]
    assert attributes["error_category"]["StringValue"] == "HUBSPOT_REJECTED_ITEM"
    assert not BATCH_ROUTES & set(_routes(stack))


def test_forced_per_contact_mode_never_calls_a_batch_route(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a portal with every scope, and the mode forced to per-contact
    handler = load_handler(HUBSPOT_BATCH_MODE="per-contact").handler
    _mixed(stack)
    # WHEN the handler runs
    response = handler(stack.receive_event(12), LambdaContext())
    # THEN only per-contact routes were called, and the result is the same newest state
    assert response == {"batchItemFailures": []}
    assert set(_routes(stack)) == CONTACT_ROUTES
    assert _state(stack, "ada@example.com", 1002) == "SUBSCRIBED"
    assert _state(stack, "ada@example.com", 1003) == "UNSUBSCRIBED"


def test_forced_batch_mode_returns_the_messages_instead_of_going_per_contact(
    no_batch_scopes: Stack, load_handler: Loader
) -> None:
    stack = no_batch_scopes
    # GIVEN the mode forced to batch, on a portal without the batch scopes
    handler = load_handler(HUBSPOT_BATCH_MODE="batch").handler
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = handler(event, LambdaContext())
    # THEN the message comes back to the queue (retryable), nothing per contact, nothing in the DLQ
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert not CONTACT_ROUTES & set(_routes(stack))
    assert stack.dead_letters() == []


def test_an_unknown_batch_mode_fails_the_init_phase(load_handler: Loader) -> None:
    from status_writer.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="HUBSPOT_BATCH_MODE='sometimes' is not one of: auto, batch"):
        load_handler(HUBSPOT_BATCH_MODE="sometimes")
