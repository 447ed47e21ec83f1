"""HUBSPOT_API_VERSION through the real handler: every call goes to the configured version's paths
(2026-03 by default), each accepted version works end to end, and any other value fails the init
phase. HubSpot is the emulator over loopback HTTP; SQS and Secrets Manager are moto server."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from tests.factories import LambdaContext, status_body, unsubscribe_all_body
from tests.integration.conftest import Stack

Loader = Callable[..., ModuleType]
API = "/communication-preferences/"


def _versions_called(stack: Stack) -> set[str]:
    return {entry["path"][len(API) :].split("/")[0] for entry in stack.emulator.request_log()}


def _send_mixed(stack: Stack) -> None:
    stack.send(
        status_body("ada@example.com", 1001, occurredAt="2026-01-05T10:00:00Z"),
        unsubscribe_all_body("bob@example.com", occurredAt="2026-01-05T10:00:00Z"),
        status_body("bob@example.com", 1002, occurredAt="2026-01-05T11:00:00Z"),
    )


def test_by_default_every_call_goes_to_the_2026_03_paths(stack: Stack, load_handler: Loader) -> None:
    # GIVEN no HUBSPOT_API_VERSION and a batch of writes and an unsubscribe-all
    handler = load_handler().handler
    _send_mixed(stack)
    # WHEN the handler runs
    response = handler(stack.receive_event(3), LambdaContext())
    # THEN everything applied, through /communication-preferences/2026-03/... only
    assert response == {"batchItemFailures": []}
    assert _versions_called(stack) == {"2026-03"}
    assert {entry["route"] for entry in stack.emulator.request_log()} == {
        "statuses/batch/write",
        "statuses/batch/unsubscribe-all",
    }
    assert stack.emulator.status("bob@example.com", 1002)["status"] == "SUBSCRIBED"  # type: ignore[index]


@pytest.mark.parametrize("version", ["v4", "2026-09"])
def test_each_accepted_version_works_when_set(stack: Stack, load_handler: Loader, version: str) -> None:
    # GIVEN HUBSPOT_API_VERSION set, and the default version retired by the portal
    stack.emulator.configure(retired_versions=["2026-03"])
    handler = load_handler(HUBSPOT_API_VERSION=version).handler
    _send_mixed(stack)
    # WHEN the handler runs
    response = handler(stack.receive_event(3), LambdaContext())
    # THEN every call went to that version and every contact is in its newest state
    assert response == {"batchItemFailures": []}
    assert _versions_called(stack) == {version}
    assert stack.emulator.status("ada@example.com", 1001)["status"] == "SUBSCRIBED"  # type: ignore[index]
    assert stack.emulator.status("bob@example.com", 1002)["status"] == "SUBSCRIBED"  # type: ignore[index]
    assert stack.emulator.status("bob@example.com", 1003)["status"] == "UNSUBSCRIBED"  # type: ignore[index]
    assert stack.dead_letters() == []


def test_a_2026_09_partial_failure_answered_200_is_read_item_by_item(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN 2026-09, which answers a partial failure as 200 with errors[] (no 207)
    handler = load_handler(HUBSPOT_API_VERSION="2026-09").handler
    stack.send(status_body("ada@example.com", 1001), status_body("bob@example.com", 999999))
    # WHEN the handler runs
    response = handler(stack.receive_event(2), LambdaContext())
    # THEN the answer was a 200, the good write applied, the bad one dead-lettered with its reason
    assert [entry["status"] for entry in stack.emulator.request_log()] == [200]
    assert response == {"batchItemFailures": []}
    assert stack.emulator.status("ada@example.com", 1001) is not None
    dead = stack.dead_letters()
    assert len(dead) == 1
    assert dead[0]["MessageAttributes"]["error_category"]["StringValue"] == "HUBSPOT_REJECTED_ITEM"


def test_a_retired_version_is_retried_not_dead_lettered(stack: Stack, load_handler: Loader) -> None:
    # GIVEN the function on v4 and a portal that no longer serves it (HubSpot answers 404)
    stack.emulator.configure(retired_versions=["v4"])
    handler = load_handler(HUBSPOT_API_VERSION="v4").handler
    stack.send(status_body("ada@example.com", 1001))
    event = stack.receive_event(1)
    # WHEN the handler runs
    response = handler(event, LambdaContext())
    # THEN the message comes back (a configuration fault, never the message's) and nothing is lost
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert stack.dead_letters() == []


def test_an_unknown_version_fails_the_init_phase_naming_the_allowed_ones(load_handler: Loader) -> None:
    # WHEN the function starts with a version HubSpot does not have
    from status_writer.config import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        load_handler(HUBSPOT_API_VERSION="v5")
    # THEN the error names the setting and every allowed value
    message = str(raised.value)
    assert "HUBSPOT_API_VERSION='v5'" in message
    assert all(version in message for version in ("2026-03", "2026-09", "v4"))
