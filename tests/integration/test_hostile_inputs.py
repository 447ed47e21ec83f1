"""Message bodies nobody planned for, through real SQS (moto) into the real handler and on to the
emulator over loopback HTTP: a poison body costs only itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

from status_writer.calls import CallContext
from status_writer.config import Settings
from status_writer.credentials import Credentials
from status_writer.deadline import Deadline
from status_writer.hubspot import HubSpotClient
from status_writer.rate_limit import RateLimitPacer
from status_writer.transport import make_http_client

from tests.factories import LambdaContext, status_body
from tests.integration.conftest import TOKEN, Stack
from tests.integration.hostile_helpers import WRITE, event_of, failed

Loader = Callable[..., ModuleType]


def test_a_lone_surrogate_costs_only_its_own_record(stack: Stack, load_handler: Loader) -> None:
    # GIVEN 99 valid updates and one whose explanation is half an emoji (valid, ASCII JSON; SQS takes it)
    poison = json.dumps(status_body("poison@example.com", 1001, legalBasisExplanation="\ud800"))
    event = event_of(stack, 99, poison)
    # WHEN the handler runs
    response = load_handler().handler(event, LambdaContext())
    # THEN the 99 are applied, the poison one is dead-lettered as invalid with a reason, nothing comes back
    assert failed(response) == set()
    assert all(
        stack.emulator.status(f"user{i}@example.com", 1001)["status"] == "SUBSCRIBED" for i in range(99)
    )
    dead = stack.dead_letters()
    assert len(dead) == 1
    assert dead[0]["MessageAttributes"]["error_category"]["StringValue"] == "INVALID_MESSAGE"
    assert "lone surrogate" in dead[0]["MessageAttributes"]["error_message"]["StringValue"]


def test_a_request_the_encoder_refuses_is_a_rejection_to_bisect_not_an_exception(stack: Stack) -> None:
    # GIVEN the HubSpot client over loopback to the emulator, and an input no UTF-8 encoder can take
    settings = Settings.from_environment(stack.env)
    http = make_http_client(settings)
    client = HubSpotClient(
        http, Credentials(settings.secret_id, http, lambda _id, _force: TOKEN), RateLimitPacer()
    )
    bad = {"subscriberIdString": "a@example.com", "subscriptionId": 1, "statusState": "SUBSCRIBED"}
    try:
        # WHEN it is asked to write it
        result = client.write_statuses(
            [{**bad, "legalBasisExplanation": "\udc00"}], CallContext(Deadline(LambdaContext(), 3_000))
        )
    finally:
        client.close()
    # THEN it answers "rejected" (the pipeline then bisects down to this input), and nothing was sent
    assert result.rejected is not None
    assert "encoded" in result.rejected
    assert result.body is None
    assert result.failure is None
    assert [entry for entry in stack.emulator.request_log() if entry["path"] == WRITE] == []
