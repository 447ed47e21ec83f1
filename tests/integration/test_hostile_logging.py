"""At LogLevel=DEBUG, with the root logger set up as the Lambda Python runtime sets it up (a handler on
the root, the level from the function's log level), no line carries the token or a raw address."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from local.hostile import Answer, Profile, batch_answer, running_hostile
from local.hubspot_emulator import Faults
from tests.factories import LambdaContext, status_body
from tests.integration.conftest import TOKEN, Stack

Loader = Callable[..., ModuleType]
SERVICE = "hubspot-subscription-sync"  # POWERTOOLS_SERVICE_NAME in the integration stack
SERVER_SIDE = ("moto", "werkzeug")  # the fake AWS's own loggers run in this process; not the function's


@pytest.fixture
def function_logger() -> Iterator[Logger]:
    """The function's Powertools logger, its level restored afterwards."""
    from status_writer.observability import logger

    level = logger.log_level
    yield logger
    logger.setLevel(level)


@pytest.fixture
def lambda_root_logger() -> Iterator[io.StringIO]:
    """The runtime's set-up: one handler on the root logger, the root at the function's level (DEBUG)."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"))
    handler.addFilter(lambda record: not record.name.startswith(SERVER_SIDE))
    # The function's own logger does not propagate; its JSON lines are captured the same way.
    function_logger = logging.getLogger(SERVICE)
    own = logging.StreamHandler(stream)
    own.setFormatter(LambdaPowertoolsFormatter())
    level = root.level
    root.addHandler(handler)
    function_logger.addHandler(own)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        function_logger.removeHandler(own)
        root.setLevel(level)


@pytest.fixture
def debug_text(
    lambda_root_logger: io.StringIO, function_logger: Logger, capfd: pytest.CaptureFixture[str]
) -> Callable[[], str]:
    """The function at DEBUG, as a fresh execution environment with POWERTOOLS_LOG_LEVEL=DEBUG would
    set it; returns a reader of everything logged or printed since."""
    function_logger.setLevel(logging.DEBUG)

    def read() -> str:
        captured = capfd.readouterr()
        return "\n".join([lambda_root_logger.getvalue(), captured.out, captured.err])

    return read


def test_debug_logs_carry_no_token_and_no_raw_address(
    stack: Stack,
    load_handler: Loader,
    lambda_root_logger: io.StringIO,
    function_logger: Logger,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN applied, dead-lettered (HubSpot refuses the subscription) and invalid updates, and a 503 that
    # is retried at once, at POWERTOOLS_LOG_LEVEL=DEBUG (the secret is read on the way)
    emails = ["ada.lovelace@example.com", "grace.hopper@example.com", "edsger@example.org"]
    app = load_handler(POWERTOOLS_LOG_LEVEL="DEBUG")  # the Init phase comes first, as in Lambda
    # The function's logger took its level when first imported (maybe by another test): set it as a
    # fresh execution environment would, from POWERTOOLS_LOG_LEVEL=DEBUG.
    function_logger.setLevel(logging.DEBUG)
    stack.send(
        status_body(emails[0], 1001),
        status_body(emails[1], 999999),
        json.dumps({**status_body(emails[2], 1001), "status": "x"}),
    )
    event = stack.receive_event(3)
    stack.emulator.set_faults(Faults(script=("503",)))
    # WHEN the handler runs
    app.handler(event, LambdaContext())
    # THEN something was logged at DEBUG, yet no line holds the token or any raw address
    captured = capfd.readouterr()
    lines = [
        *lambda_root_logger.getvalue().splitlines(),
        *captured.out.splitlines(),
        *captured.err.splitlines(),
    ]
    assert any('"level":"DEBUG"' in line for line in lines)
    leaks = [line for line in lines if TOKEN in line or any(email in line.lower() for email in emails)]
    assert leaks == []


def _escaped(text: str) -> str:
    """``text`` as a JSON string whose every character is a \\u escape: no byte of it is readable."""
    return "".join(f"\\u{ord(char):04x}" for char in text)


def _echoing(path: str, body: Any, *, escape: bool) -> Answer:
    """A peer that quotes the request's Authorization header in HubSpot's error shapes: a whole-batch
    400 for a batch holding the bad contact, a 207 item error for the other contact, a 401 otherwise."""
    quoted = _escaped(f"Bearer {TOKEN}") if escape else f"Bearer {TOKEN}"
    emails = [item["subscriberIdString"] for item in body["inputs"]]
    if "bad@example.com" in emails:
        text = f'{{"status":"error","category":"VALIDATION_ERROR","message":"bad header {quoted}"}}'
        return Answer(400, text.encode())
    if "item@example.com" in emails:
        answer = batch_answer(
            {"inputs": [item for item in body["inputs"] if "item@" not in item["subscriberIdString"]]}
        )
        error = {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "MARK",
            "context": {"subscriberIdString": ["item@example.com"]},
        }
        text = json.dumps({**answer, "status": "COMPLETE", "numErrors": 1, "errors": [error]})
        return Answer(207, text.replace('"MARK"', f'"refused for {quoted}"').encode())
    return Answer(
        401, f'{{"status":"error","category":"INVALID_AUTHENTICATION","message":"{quoted}"}}'.encode()
    )


@pytest.mark.parametrize("escape", [False, True], ids=["plain", "json-escaped"])
def test_an_answer_quoting_the_token_carries_it_into_no_line_and_no_dead_letter(
    stack: Stack, load_handler: Loader, debug_text: Callable[[], str], escape: bool
) -> None:
    # GIVEN a peer that quotes the request's token in every refusal (a whole-batch 400, a 207 item
    # error, a 401), plainly or with every character JSON-escaped, and the function at DEBUG
    bad, item = status_body("bad@example.com", 1001), status_body("item@example.com", 1001)
    with running_hostile(Profile(respond=lambda path, body: _echoing(path, body, escape=escape))) as hostile:
        app = load_handler(POWERTOOLS_LOG_LEVEL="DEBUG", HUBSPOT_API_BASE_URL=hostile.url)
        stack.send(bad, item)
        first = app.handler(stack.receive_event(2), LambdaContext())
        stack.send(status_body("ada@example.com", 1001))
        second = app.handler(stack.receive_event(1), LambdaContext())
    # THEN the refused ones are dead-lettered with HubSpot's reason, the token shown as a mark only;
    # the 401's record comes back; no log line and no dead letter holds the token
    dead = stack.dead_letters()
    reasons = sorted(d["MessageAttributes"]["error_category"]["StringValue"] for d in dead)
    assert reasons == ["HUBSPOT_REJECTED_BATCH", "HUBSPOT_REJECTED_ITEM"]
    assert first == {"batchItemFailures": []}
    assert len(second["batchItemFailures"]) == 1
    messages = [d["MessageAttributes"]["error_message"]["StringValue"] for d in dead]
    assert all("Bearer [token]" in message for message in messages), messages
    text = debug_text() + json.dumps(dead)
    assert "Bearer [token]" in text  # the 401's reason reached the summary line, marked
    assert TOKEN not in text


def test_a_token_endpoint_quoting_the_grant_carries_it_into_no_line(
    stack: Stack, load_handler: Loader, debug_text: Callable[[], str]
) -> None:
    # GIVEN an OAuth grant in the secret and a token endpoint that refuses it, quoting the refresh token
    # and the client secret where HubSpot names its error
    grant = {"clientId": "client-e", "clientSecret": "secret-e-123", "refreshToken": "refresh-e-456"}
    stack.put_secret(grant)
    echo = json.dumps({"status": "refresh-e-456 secret-e-123", "message": "refresh-e-456"}).encode()

    def respond(path: str, body: Any) -> Answer:
        return Answer(400, echo) if path.startswith("/oauth/v1/token") else Answer(500, b"")

    with running_hostile(Profile(respond=respond)) as hostile:
        app = load_handler(POWERTOOLS_LOG_LEVEL="DEBUG", HUBSPOT_API_BASE_URL=hostile.url)
        stack.send(status_body("ada@example.com", 1001))
        # WHEN the handler runs
        response = app.handler(stack.receive_event(1), LambdaContext())
    # THEN the record comes back and the summary names the refusal, but neither secret value
    assert len(response["batchItemFailures"]) == 1
    text = debug_text()
    assert "OAuth token exchange answered HTTP 400" in text
    assert "refresh-e-456" not in text
    assert "secret-e-123" not in text
