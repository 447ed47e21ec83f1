"""At LogLevel=DEBUG, with the root logger set up as the Lambda Python runtime sets it up (a handler on
the root, the level from the function's log level), no line carries the token or a raw address."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

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
