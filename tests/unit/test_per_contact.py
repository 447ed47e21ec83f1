"""Per-contact mode's pure parts: the mode memory per route (switch on 403 MISSING_SCOPES, log once,
probe again after 15 minutes, forced modes), the fan-out's batch-shaped answer read by the existing
outcome mapping, and the versioned paths."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from status_writer.model import Failure, FailureCategory
from status_writer.observability import metrics
from status_writer.outcomes import map_batch_response
from status_writer.per_contact import PROBE_AFTER_S, RouteModes, fan_out, write_names, write_result
from status_writer.routes import ApiPaths, Route

from tests.unit.helpers import updates


@pytest.fixture(autouse=True)
def _no_metrics_left_behind() -> Iterator[None]:
    """The switch adds a metric; the handler's flush would empty the set, so the test does."""
    yield
    metrics.clear_metrics()


MISSING = Failure(FailureCategory.MISSING_SCOPES, "HTTP 403 MISSING_SCOPES: not granted", permanent=False)


@dataclass(frozen=True)
class FakeAnswer:
    """A call's end as hubspot.CallResult carries it."""

    body: Any = None
    rejected: str | None = None
    failure: Failure | None = None


OK = FakeAnswer(body={"status": "COMPLETE", "results": []})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the mode memory ---------------------------------------------------------------------------------


def test_a_missing_scope_403_switches_only_that_route_until_the_probe() -> None:
    # GIVEN auto mode
    clock = Clock()
    modes = RouteModes("auto", clock=clock)
    # WHEN the write route's batch call answers 403 MISSING_SCOPES
    assert modes.take_batch(Route.WRITE)
    switched = modes.after_batch(Route.WRITE, FakeAnswer(failure=MISSING))
    # THEN the write route goes per contact (1 input a call); the unsubscribe-all route does not
    assert switched
    assert not modes.take_batch(Route.WRITE)
    assert modes.inputs_per_call(Route.WRITE, 100) == 1
    assert modes.inputs_per_call(Route.UNSUBSCRIBE_ALL, 100) == 100
    # AND after 15 minutes exactly one caller probes the batch route again
    clock.now += PROBE_AFTER_S
    assert modes.inputs_per_call(Route.WRITE, 100) == 100
    assert modes.take_batch(Route.WRITE)
    assert not modes.take_batch(Route.WRITE)


def test_a_probe_that_succeeds_goes_back_to_batches() -> None:
    clock = Clock()
    modes = RouteModes("auto", clock=clock)
    modes.after_batch(Route.WRITE, FakeAnswer(failure=MISSING))
    clock.now += PROBE_AFTER_S
    assert modes.take_batch(Route.WRITE)
    # WHEN the probe's batch call succeeds
    assert not modes.after_batch(Route.WRITE, OK)
    # THEN the route stays on batches
    assert modes.take_batch(Route.WRITE)
    assert modes.take_batch(Route.WRITE)


def test_the_switch_is_logged_and_counted_once(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN three 403s on the same route (concurrent chunks, then a failed probe)
    clock = Clock()
    modes = RouteModes("auto", clock=clock)
    with caplog.at_level("WARNING"):
        for _ in range(2):
            modes.after_batch(Route.WRITE, FakeAnswer(failure=MISSING))
        clock.now += PROBE_AFTER_S
        modes.take_batch(Route.WRITE)
        modes.after_batch(Route.WRITE, FakeAnswer(failure=MISSING))
    # THEN one WARNING
    assert [r.levelname for r in caplog.records if "goes per contact" in r.getMessage()] == ["WARNING"]


@pytest.mark.parametrize(
    "answer",
    [
        FakeAnswer(
            failure=Failure(FailureCategory.MISSING_SCOPES, "HTTP 403 FORBIDDEN: portal locked", False)
        ),
        FakeAnswer(failure=Failure(FailureCategory.HUBSPOT_UNAVAILABLE, "HTTP 503 x: y", False)),
        FakeAnswer(rejected="HTTP 400 VALIDATION_ERROR: bad"),
        OK,
    ],
)
def test_other_answers_never_switch(answer: FakeAnswer) -> None:
    modes = RouteModes("auto")
    assert not modes.after_batch(Route.WRITE, answer)
    assert modes.take_batch(Route.WRITE)


def test_forced_modes_ignore_what_hubspot_answers() -> None:
    batch, per_contact = RouteModes("batch"), RouteModes("per-contact")
    assert not batch.after_batch(Route.WRITE, FakeAnswer(failure=MISSING))
    assert batch.take_batch(Route.WRITE)
    assert batch.inputs_per_call(Route.WRITE, 100) == 100
    assert not per_contact.take_batch(Route.UNSUBSCRIBE_ALL)
    assert per_contact.inputs_per_call(Route.UNSUBSCRIBE_ALL, 100) == 1


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, batch, per-contact"):
        RouteModes("sometimes")


# --- the fan-out ---------------------------------------------------------------------------------


def test_fan_out_answers_in_the_batch_shape_the_outcome_mapping_reads() -> None:
    # GIVEN three writes: applied, rejected by HubSpot, applied
    inputs = updates(3)
    answers = iter(
        [OK, FakeAnswer(rejected="HTTP 400 VALIDATION_ERROR: Subscription 1001 is not active"), OK]
    )
    # WHEN they go out one call each
    body = fan_out([u.to_input() for u in inputs], lambda _item: next(answers), write_names, write_result)
    # THEN the mapping says applied, dead-letter (permanent, with HubSpot's reason), applied
    results = map_batch_response(inputs, body)
    assert [r.applied for r in results] == [True, False, True]
    failure = results[1].failure
    assert failure is not None
    assert (failure.category, failure.permanent) == (FailureCategory.HUBSPOT_REJECTED_ITEM, True)
    assert "not active" in failure.detail


def test_a_per_contact_write_hubspot_already_held_claims_neither_its_stamp_nor_its_source() -> None:
    # GIVEN one write answered as set now, one answered NO_STATUS_CHANGE: HubSpot kept the status a
    # workflow set, with the workflow's timestamp and source
    inputs = updates(2)

    def answer(stamp: str, source: str, reason: str) -> FakeAnswer:
        status = {
            "subscriptionId": 1001,
            "timestamp": stamp,
            "source": source,
            "setStatusSuccessReason": reason,
        }
        return FakeAnswer(body={"status": "COMPLETE", "results": [status]})

    answers = iter(
        [
            answer("2026-12-01T10:00:00.000Z", "Public API", "REQUESTED_CHANGE_OCCURRED"),
            answer("2026-11-01T09:00:00.000Z", "AUTOMATION_WORKFLOW", "NO_STATUS_CHANGE"),
        ]
    )
    # WHEN they go out one call each
    body = fan_out([u.to_input() for u in inputs], lambda _item: next(answers), write_names, write_result)
    results = map_batch_response(inputs, body)
    # THEN both applied; only the first carries a stamp and the function's source
    assert [r.applied for r in results] == [True, True]
    assert (bool(results[0].stamps), results[0].source) == (True, "Public API")
    assert (results[1].stamps, results[1].source) == ((), None)


def test_fan_out_when_every_call_fails_returns_the_first_failure_and_stops() -> None:
    # GIVEN calls that all hit the daily limit
    daily = Failure(FailureCategory.DAILY_LIMIT, "daily limit", permanent=False, retry_after_s=3600)
    sent: list[Any] = []

    def send(item: Any) -> FakeAnswer:
        sent.append(item)
        return FakeAnswer(failure=daily)

    # WHEN three writes fan out
    answer = fan_out([u.to_input() for u in updates(3)], send, write_names, write_result)
    # THEN the failure stands for all (same category and wait), after one call only
    assert answer == daily
    assert len(sent) == 1


def test_fan_out_a_later_failure_returns_the_rest_retryable() -> None:
    # GIVEN the second of three calls runs out of time
    inputs = updates(3)
    late = Failure(FailureCategory.TIME_BUDGET, "no time", permanent=False)
    answers = iter([OK, FakeAnswer(failure=late)])
    # WHEN they fan out
    body = fan_out([u.to_input() for u in inputs], lambda _item: next(answers), write_names, write_result)
    # THEN the first applied and the other two come back (retryable), not lost
    results = map_batch_response(inputs, body)
    assert results[0].applied
    assert [r.failure.permanent for r in results[1:] if r.failure is not None] == [False, False]


def test_fan_out_in_parallel_keeps_each_answer_with_its_input() -> None:
    # GIVEN four threads and twelve writes, every third of which HubSpot rejects
    inputs = updates(12)
    rejected = {u.email for u in inputs[::3]}

    def send(item: Any) -> FakeAnswer:
        if item["subscriberIdString"] in rejected:
            return FakeAnswer(rejected="HTTP 400 VALIDATION_ERROR: no")
        return OK

    # WHEN they fan out on the threads
    with ThreadPoolExecutor(4) as workers:
        body = fan_out([u.to_input() for u in inputs], send, write_names, write_result, workers)
    # THEN each outcome belongs to its own input
    results = map_batch_response(inputs, body)
    assert [not r.applied for r in results] == [u.email in rejected for u in inputs]


def test_fan_out_an_answer_not_complete_is_not_known_to_be_applied() -> None:
    inputs = updates(1)
    body = fan_out(
        [u.to_input() for u in inputs],
        lambda _item: FakeAnswer(body={"status": "PROCESSING", "results": []}),
        write_names,
        write_result,
    )
    [result] = map_batch_response(inputs, body)
    assert result.failure is not None
    assert not result.failure.permanent


# --- the paths ---------------------------------------------------------------------------------


def test_paths_follow_the_version_and_encode_the_address() -> None:
    paths = ApiPaths("2026-09")
    assert paths.batch_write == "/communication-preferences/2026-09/statuses/batch/write"
    assert (
        paths.contact_status("a+b/c@example.com")
        == "/communication-preferences/2026-09/statuses/a%2Bb%2Fc@example.com"
    )
    assert paths.contact_unsubscribe_all("a@x.io").endswith("/statuses/a@x.io/unsubscribe-all")
    assert (
        ApiPaths().batch_unsubscribe_all
        == "/communication-preferences/2026-03/statuses/batch/unsubscribe-all"
    )


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="2026-03, 2026-09, v4"):
        ApiPaths("v3")
