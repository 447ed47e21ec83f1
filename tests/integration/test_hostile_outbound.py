"""Outbound calls that hang or trickle (Secrets Manager, the OAuth token endpoint, SQS) against the real
handler: each is bounded by the invocation's deadline as a whole call, and what cannot finish comes
back to the queue."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from local.hostile import Answer, Profile, batch_answer, running_hostile
from local.hubspot_emulator import Faults
from tests.factories import LambdaContext, sqs_record
from tests.integration.conftest import Stack
from tests.integration.hostile_helpers import failed, ids, synthetic_event

Loader = Callable[..., ModuleType]


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback endpoint that accepts connections and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        yield f"http://127.0.0.1:{silent.getsockname()[1]}"
    finally:
        silent.close()


def test_a_hanging_secrets_manager_is_read_once_per_invocation_within_the_deadline(
    stack: Stack, load_handler: Loader, silent_endpoint: str
) -> None:
    # GIVEN 400 records (four chunks in flight), a Secrets Manager that never answers, a 10 s invocation
    event = synthetic_event(400, stack.queue_arn)
    app = load_handler(AWS_ENDPOINT_URL_SECRETS_MANAGER=silent_endpoint)
    # WHEN the handler runs
    started = time.monotonic()
    response = app.handler(event, LambdaContext(timeout_ms=10_000))
    elapsed = time.monotonic() - started
    # THEN the read failed once (its failure remembered for the other chunks) inside the invocation's
    # time, and every record comes back
    assert elapsed < 6.0, elapsed
    assert failed(response) == ids(event)


def test_a_trickling_oauth_token_endpoint_is_cut_off_within_the_call_budget(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN an OAuth grant in the secret and a token endpoint that trickles its answer for ~20 s
    stack.put_secret({"clientId": "c", "clientSecret": "s", "refreshToken": "r"})
    token = b'{"access_token": "oauth-token-1", "expires_in": 1800, "token_type": "bearer"}' + b" " * 40

    def respond(path: str, body: Any) -> Answer:
        if path.startswith("/oauth/v1/token"):
            return Answer(200, token, trickle_s=0.5, trickle_bytes=3)
        return Answer(200, b"{}" if body is None else json.dumps(batch_answer(body)).encode())

    event = synthetic_event(8, stack.queue_arn)
    with running_hostile(Profile(respond=respond)) as hostile:
        app = load_handler(HUBSPOT_API_BASE_URL=hostile.url)
        # WHEN the handler runs in a 12 s invocation
        started = time.monotonic()
        response = app.handler(event, LambdaContext(timeout_ms=12_000))
        elapsed = time.monotonic() - started
    # THEN the exchange gave up at the call budget (3 s), nothing was written, everything comes back
    assert elapsed < 6.0, elapsed
    assert failed(response) == ids(event)
    assert [path for path, _ in hostile.requests if "statuses" in path] == []


def test_settling_against_a_hanging_sqs_ends_within_the_deadline_and_brings_records_back(
    stack: Stack, load_handler: Loader, silent_endpoint: str
) -> None:
    # GIVEN 60 records HubSpot refuses with a retryable 503, 10 invalid ones for the DLQ, an SQS that
    # never answers (every visibility change and DLQ send hangs for its timeouts), a 10 s invocation
    stack.emulator.set_faults(Faults(error_rate=1.0, error_statuses=(503,)))
    event = synthetic_event(60, stack.queue_arn)
    event["Records"].extend(sqs_record("not json", queue_arn=stack.queue_arn) for _ in range(10))
    app = load_handler(AWS_ENDPOINT_URL_SQS=silent_endpoint)
    # WHEN the handler runs
    started = time.monotonic()
    response = app.handler(event, LambdaContext(timeout_ms=10_000))
    elapsed = time.monotonic() - started
    # THEN the 7 visibility batches and the DLQ batch ran side by side inside what was left, and every
    # record comes back, the invalid ones too (their DLQ copy was never accepted)
    assert elapsed < 9.5, elapsed  # a second is kept for the response
    assert failed(response) == ids(event)


def test_a_hanging_dynamodb_holds_the_ledger_read_only_for_the_time_a_call_may_take(
    stack: Stack, load_handler: Loader, silent_endpoint: str
) -> None:
    # GIVEN the ordering ledger on, a DynamoDB that accepts connections and never answers, and an
    # invocation with 7 s left: 2 s past the safety margin, less than the ledger client's own timeouts
    # (2 attempts of a 2 s read)
    event = synthetic_event(20, stack.queue_arn)
    app = load_handler(VERSION_TABLE_NAME="versions", AWS_ENDPOINT_URL_DYNAMODB=silent_endpoint)
    # WHEN the handler runs
    started = time.monotonic()
    response = app.handler(event, LambdaContext(timeout_ms=7_000))
    elapsed = time.monotonic() - started
    # THEN the read gave up when the invocation's time for a call was over, both attempts together,
    # and every record comes back
    assert elapsed < 3.5, elapsed
    assert failed(response) == ids(event)
