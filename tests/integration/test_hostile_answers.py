"""HubSpot answers nobody planned for, from the hostile server over loopback HTTP, against the real
handler (moto SQS and Secrets Manager): every record ends in exactly one outcome, nothing is
dead-lettered for HubSpot's (or a proxy's) fault, and no call outlives the invocation's deadline."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.hostile import Answer, Profile, batch_answer, running_hostile
from tests.factories import LambdaContext, status_body
from tests.integration.conftest import Stack
from tests.integration.hostile_helpers import WRITE, dead_letter_ids, event_of, failed, ids

Loader = Callable[..., ModuleType]


@pytest.mark.parametrize(
    "kind", ["empty_200", "null_200", "truncated_200", "list_207", "no_status_200", "html_200"]
)
def test_a_2xx_that_is_not_a_batch_body_is_an_unknown_outcome_never_bisected(
    stack: Stack, load_handler: Loader, kind: str
) -> None:
    # GIVEN 16 valid updates and a HubSpot whose 2xx answers are not batch bodies
    event = event_of(stack, 16)
    with running_hostile(kind) as hostile:
        handler = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler
        # WHEN the handler runs
        response = handler(event, LambdaContext())
    # THEN one call was made (a body cut short is a broken connection: one quick retry), never a
    # bisection; every record comes back, nothing is dead-lettered
    calls = len([path for path, _ in hostile.requests if path.startswith(WRITE)])
    assert calls == (2 if kind == "truncated_200" else 1)
    assert failed(response) == ids(event)
    assert dead_letter_ids(stack) == {}


@pytest.mark.parametrize("kind", ["html_400", "html_413"])
def test_a_400_or_413_that_is_not_hubspots_error_shape_is_unavailable_not_a_rejection(
    stack: Stack, load_handler: Loader, kind: str
) -> None:
    # GIVEN a proxy in front of HubSpot that answers every call with an HTML page
    event = event_of(stack, 16)
    with running_hostile(kind) as hostile:
        response = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler(event, LambdaContext())
    # THEN no valid item is dead-lettered: all come back after one call
    assert len(hostile.requests) == 1
    assert failed(response) == ids(event)
    assert dead_letter_ids(stack) == {}


def test_hubspots_own_whole_batch_400_is_still_bisected_to_the_bad_input(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN HubSpot's error shape for a whole-batch 400 whenever the batch holds the bad contact
    event = event_of(stack, 3, status_body("bad@example.com", 1001))

    def respond(path: str, body: Any) -> Answer:
        emails = [item["subscriberIdString"] for item in body["inputs"]]
        if "bad@example.com" in emails:
            error = {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "bad",
                "correlationId": "c",
            }
            return Answer(400, json.dumps(error).encode())
        return Answer(200, json.dumps(batch_answer(body)).encode())

    with running_hostile(Profile(respond=respond)) as hostile:
        response = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler(event, LambdaContext())
    # THEN only the bad one is dead-lettered, as rejected
    assert response == {"batchItemFailures": []}
    assert list(dead_letter_ids(stack).values()) == ["HUBSPOT_REJECTED_BATCH"]


def test_a_trickling_answer_is_cut_off_when_the_calls_time_is_over(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a HubSpot that sends a valid answer 100 bytes every half second (about 15 s in all), each
    # piece well inside the 2 s read timeout, and a 12 s invocation
    event = event_of(stack, 16)

    def respond(path: str, body: Any) -> Answer:
        return Answer(200, json.dumps(batch_answer(body)).encode(), trickle_s=0.5, trickle_bytes=100)

    with running_hostile(Profile(respond=respond)) as hostile:
        handler = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler
        started = time.monotonic()
        response = handler(event, LambdaContext(timeout_ms=12_000))
        elapsed = time.monotonic() - started
    # THEN the call ends at its 3 s budget (connect + read), well inside the invocation; all come back
    assert elapsed < 7.0, elapsed
    assert failed(response) == ids(event)
    assert dead_letter_ids(stack) == {}


def test_a_huge_answer_is_not_read_past_the_cap(stack: Stack, load_handler: Loader) -> None:
    # GIVEN a HubSpot answering 200 with a 40 MiB body
    event = event_of(stack, 4)
    with running_hostile(Profile(kinds=("huge_200",), huge_bytes=40 * 1024 * 1024)) as hostile:
        handler = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler
        # WHEN the handler runs, its memory traced
        tracemalloc.start()
        try:
            response = handler(event, LambdaContext())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # THEN at most the cap was held, the outcome is unknown: all come back, none dead-lettered
    assert peak < 24 * 1024 * 1024, peak
    assert failed(response) == ids(event)
    assert dead_letter_ids(stack) == {}


@pytest.mark.parametrize("kind", ["reset", "redirect", "wrong_content_type"])
def test_resets_redirects_and_odd_content_types_end_in_one_outcome_each(
    stack: Stack, load_handler: Loader, kind: str
) -> None:
    # GIVEN a HubSpot that resets mid-body, redirects elsewhere, or labels a valid answer text/plain
    event = event_of(stack, 8)
    with running_hostile(kind) as hostile:
        response = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler(event, LambdaContext())
    # THEN a valid answer applies everything; anything else brings everything back; nothing dead-lettered
    expected = set() if kind == "wrong_content_type" else ids(event)
    assert failed(response) == expected
    assert dead_letter_ids(stack) == {}
    assert all("192.0.2.1" not in path for path, _ in hostile.requests)


def test_a_write_confirmed_in_results_is_applied_though_an_error_names_its_contact(
    stack: Stack, load_handler: Loader
) -> None:
    # GIVEN a 207 that confirms every write, with an error naming the first contact and the subscription
    event = event_of(stack, 4)

    def respond(path: str, body: Any) -> Answer:
        answer = batch_answer(body, status=207)
        answer["errors"] = [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "user0@example.com: other subscription failed",
                "context": {"ids": ["user0@example.com"], "subscriptionId": ["1001"]},
            }
        ]
        return Answer(207, json.dumps(answer).encode())

    with running_hostile(Profile(respond=respond)) as hostile:
        response = load_handler(HUBSPOT_API_BASE_URL=hostile.url).handler(event, LambdaContext())
    # THEN every record is applied: nothing comes back, nothing is dead-lettered
    assert failed(response) == set()
    assert dead_letter_ids(stack) == {}
