"""Hostile-world property over real HTTP: generated message bodies (valid and poison) meet generated
HubSpot answers (every fault kind of the hostile server, HubSpot's own rejections, valid answers) in the
real handler, with moto's SQS and Secrets Manager. Every record ends in exactly one correct outcome,
within the deadline, and the token never reaches a log line. Few examples: each is a whole invocation."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.hostile import Answer, Profile, batch_answer, fault_answer, running_hostile
from tests.factories import LambdaContext, sqs_event, sqs_record, status_body
from tests.integration.conftest import TOKEN, Stack
from tests.integration.hostile_helpers import dead_letter_ids, failed

Loader = Callable[..., ModuleType]
TIMEOUT_MS = 8_000
QUICK_KINDS = [
    "reset",
    "html_400",
    "html_413",
    "html_200",
    "empty_200",
    "null_200",
    "list_207",
    "truncated_200",
    "no_status_200",
    "redirect",
    "wrong_content_type",
]
POISON = {
    "surrogate": {"legalBasisExplanation": "\ud800"},
    "bidi": {"legalBasisExplanation": "abc\u202edef"},
    "far_future": {"occurredAt": "9999-12-31T23:59:59Z"},
    "date_only": {"occurredAt": "2026-01-05"},
    "huge_id": {"subscriptionId": 2**64},
}
HUBSPOT_400 = {
    "status": "error",
    "category": "VALIDATION_ERROR",
    "message": "bad input",
    "correlationId": "c",
}


class Responder:
    """The answers for one example, in turn; remembers which emails a valid answer confirmed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: Iterator[str] = iter(())
        self.confirmed: set[str] = set()
        self.rejected_by_hubspot = False

    def __call__(self, path: str, body: Any) -> Answer:
        with self.lock:
            kind = next(self.kinds)
            if kind == "valid":
                answer = batch_answer(body)
                self.confirmed.update(r["subscriberIdString"] for r in answer["results"])
                return Answer(200, json.dumps(answer).encode())
            if kind == "wrong_content_type":
                self.confirmed.update(i["subscriberIdString"] for i in body["inputs"])
            if kind == "hubspot_400":
                self.rejected_by_hubspot = True
                return Answer(400, json.dumps(HUBSPOT_400).encode())
        return fault_answer(kind, body)


@pytest.fixture
def world(stack: Stack, load_handler: Loader) -> Iterator[tuple[Stack, Responder, ModuleType]]:
    responder = Responder()
    with running_hostile(Profile(respond=responder)) as hostile:
        yield stack, responder, load_handler(HUBSPOT_API_BASE_URL=hostile.url, POWERTOOLS_LOG_LEVEL="DEBUG")


records = st.lists(st.one_of(st.just(None), st.sampled_from(sorted(POISON))), min_size=1, max_size=6)
answers = st.lists(st.sampled_from([*QUICK_KINDS, "valid", "valid", "hubspot_400"]), min_size=1, max_size=4)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kinds=records, replies=answers)
def test_every_record_ends_in_exactly_one_correct_outcome_whatever_the_world_does(
    world: tuple[Stack, Responder, ModuleType],
    capfd: pytest.CaptureFixture[str],
    kinds: list[str | None],
    replies: list[str],
) -> None:
    stack, responder, app = world
    responder.kinds = itertools.cycle(replies)
    responder.confirmed, responder.rejected_by_hubspot = set(), False
    tag = time.monotonic_ns()
    bodies = [
        json.dumps(status_body(f"p{tag}-{n}@example.com", 1001, **(POISON[kind] if kind else {})))
        for n, kind in enumerate(kinds)
    ]
    event = sqs_event(*(sqs_record(body, queue_arn=stack.queue_arn) for body in bodies))
    # WHEN the handler runs
    started = time.monotonic()
    response = app.handler(event, LambdaContext(timeout_ms=TIMEOUT_MS))
    elapsed_ms = (time.monotonic() - started) * 1000
    # THEN within the deadline, each record has exactly one outcome, and the right one
    assert elapsed_ms < TIMEOUT_MS
    returned = failed(response)
    dead = dead_letter_ids(stack)
    for record, kind in zip(event["Records"], kinds, strict=True):
        message_id, email = record["messageId"], json.loads(record["body"])["subscriberIdString"]
        outcomes = [message_id in returned, message_id in dead]
        assert sum(outcomes) <= 1
        if kind is not None:  # poison: never sent, dead-lettered as invalid
            assert dead.get(message_id) == "INVALID_MESSAGE"
        elif message_id in dead:  # only HubSpot's own rejection dead-letters a valid record
            assert dead[message_id] == "HUBSPOT_REJECTED_BATCH"
            assert responder.rejected_by_hubspot
        elif message_id not in returned:  # applied: only if a valid answer confirmed it
            assert email in responder.confirmed
    captured = capfd.readouterr()
    assert TOKEN not in captured.out + captured.err
