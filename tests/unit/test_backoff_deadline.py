"""backoff (visibility delays) and deadline (may a HubSpot call still start?)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
from status_writer.backoff import (
    SQS_MAX_VISIBILITY_S,
    failure_delay_s,
    retry_delay_s,
    seconds_until_daily_reset,
)
from status_writer.deadline import SAFETY_MARGIN_MS, Deadline
from status_writer.model import Failure, FailureCategory

from tests.factories import LambdaContext

# --- failure_delay_s --------------------------------------------------------------------------------


def failing(category: FailureCategory, retry_after_s: int | None = None) -> Failure:
    return Failure(category, "-", permanent=False, retry_after_s=retry_after_s)


@pytest.mark.parametrize("category", [FailureCategory.AUTHENTICATION, FailureCategory.MISSING_SCOPES])
def test_a_failure_that_waits_for_a_fix_waits_the_cap_from_the_first_receive(
    category: FailureCategory,
) -> None:
    # GIVEN a revoked token or missing scopes WHEN its record comes back THEN it waits the longest backoff
    # at once: shorter ones only spend its receives before someone rotates the token
    assert [failure_delay_s(n, failing(category), 30, 900) for n in (1, 2, 10)] == [900, 900, 900]


def test_other_failures_keep_the_schedule_and_their_own_floor() -> None:
    # GIVEN a transient failure, one with Retry-After, a DAILY park and no failure at all
    assert failure_delay_s(1, failing(FailureCategory.HUBSPOT_UNAVAILABLE), 30, 900) == 30
    assert failure_delay_s(1, failing(FailureCategory.RATE_LIMITED, retry_after_s=45), 30, 900) == 45
    assert failure_delay_s(1, failing(FailureCategory.DAILY_LIMIT, 7_000), 30, 900, daily_retry_s=600) == 600
    assert failure_delay_s(1, failing(FailureCategory.DAILY_LIMIT, 7_000), 30, 900) == 7_000
    assert failure_delay_s(3, None, 30, 900) == 120


# --- retry_delay_s ----------------------------------------------------------------------------------


def test_delay_doubles_with_each_receive() -> None:
    # GIVEN base 30 s and a high cap WHEN receive counts 1..6 THEN 30, 60, 120, ...
    assert [retry_delay_s(count, 30, 10_000) for count in range(1, 7)] == [30, 60, 120, 240, 480, 960]


def test_delay_stops_at_the_cap() -> None:
    assert [retry_delay_s(count, 30, 100) for count in range(1, 6)] == [30, 60, 100, 100, 100]


def test_cap_below_base_wins() -> None:
    assert retry_delay_s(1, 300, 60) == 60


def test_floor_raises_the_delay_but_never_lowers_it() -> None:
    assert retry_delay_s(1, 30, 900, floor_s=600) == 600
    assert retry_delay_s(5, 30, 900, floor_s=10) == 480
    assert retry_delay_s(1, 30, 900, floor_s=None) == 30
    assert retry_delay_s(1, 30, 900, floor_s=-5) == 30


def test_floor_above_the_cap_still_applies() -> None:
    # a daily-limit reset hours away beats the configured cap
    assert retry_delay_s(1, 30, 900, floor_s=7_200) == 7_200


def test_nothing_exceeds_the_sqs_twelve_hour_ceiling() -> None:
    assert retry_delay_s(1, 30, 900, floor_s=100_000) == SQS_MAX_VISIBILITY_S
    assert retry_delay_s(1, 100_000, 100_000) == SQS_MAX_VISIBILITY_S
    assert retry_delay_s(10**9, 30, 10**12) == SQS_MAX_VISIBILITY_S


@pytest.mark.parametrize("floor_s", [None, 43_200, 100_000])
def test_a_postponement_never_reaches_past_twelve_hours_from_the_receive(floor_s: int | None) -> None:
    # GIVEN a message received at t=0 that waited the largest batching window (300 s) for its batch,
    # in an invocation that runs Lambda's longest timeout (900 s) before it sets the postponement
    received_at = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    postponed_at = received_at + timedelta(seconds=300 + 900)

    # WHEN the longest delay the function can choose is set then
    delay = retry_delay_s(30, 30, 10**9, floor_s=floor_s)

    # THEN the message becomes visible again no later than SQS's 12 hours after the receive
    assert postponed_at + timedelta(seconds=delay) <= received_at + timedelta(hours=12)
    assert delay == 43_200 - 300 - 900


@pytest.mark.parametrize("count", [0, -1, -1000])
def test_receive_count_of_zero_or_less_counts_as_first_receive(count: int) -> None:
    assert retry_delay_s(count, 30, 900) == 30


def test_huge_receive_counts_do_not_blow_up() -> None:
    assert retry_delay_s(10**12, 1, 500) == 500


def test_zero_base_means_no_delay() -> None:
    assert retry_delay_s(3, 0, 900) == 0
    assert retry_delay_s(3, 0, 900, floor_s=45) == 45


# --- seconds_until_daily_reset ----------------------------------------------------------------------


def test_reset_is_next_utc_midnight_plus_margin() -> None:
    now = datetime(2026, 1, 5, 18, 0, 0, tzinfo=UTC)  # six hours before midnight
    assert seconds_until_daily_reset(now) == 6 * 3600 + 300
    assert seconds_until_daily_reset(now, margin_s=0) == 6 * 3600


def test_reset_from_another_time_zone_is_computed_in_utc() -> None:
    # 20:00 at UTC-05:00 is 01:00Z the next day: 23 hours to go, capped at 12
    now = datetime(2026, 1, 5, 20, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert seconds_until_daily_reset(now) == SQS_MAX_VISIBILITY_S
    # 23:30 at UTC+02:00 is 21:30Z: two and a half hours to go
    now = datetime(2026, 1, 5, 23, 30, 0, tzinfo=timezone(timedelta(hours=2)))
    assert seconds_until_daily_reset(now, margin_s=0) == 9_000


def test_reset_just_before_midnight_and_just_after() -> None:
    assert seconds_until_daily_reset(datetime(2026, 1, 5, 23, 59, 59, tzinfo=UTC), margin_s=0) == 1
    assert seconds_until_daily_reset(datetime(2026, 1, 6, 0, 0, 1, tzinfo=UTC)) == SQS_MAX_VISIBILITY_S


def test_reset_across_month_and_year_ends() -> None:
    assert seconds_until_daily_reset(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), margin_s=0) == 3600
    assert seconds_until_daily_reset(datetime(2028, 2, 28, 22, 0, tzinfo=UTC), margin_s=0) == 7200


# --- deadline ---------------------------------------------------------------------------------------


@dataclass
class ManualContext:
    """A LambdaContext whose remaining time the test moves by hand."""

    remaining_ms: int
    calls: list[int] = field(default_factory=list)

    def get_remaining_time_in_millis(self) -> int:
        self.calls.append(self.remaining_ms)
        return self.remaining_ms


def test_allows_call_while_budget_and_margin_fit_and_not_after() -> None:
    # GIVEN a 13 s call budget and the default 5 s margin
    context = ManualContext(remaining_ms=60_000)
    deadline = Deadline(context, call_budget_ms=13_000)
    # WHEN time counts down THEN calls are allowed until less than budget + margin is left
    assert deadline.allows_call()
    context.remaining_ms = 13_000 + SAFETY_MARGIN_MS + 1
    assert deadline.allows_call()
    context.remaining_ms = 13_000 + SAFETY_MARGIN_MS
    assert not deadline.allows_call()
    context.remaining_ms = 0
    assert not deadline.allows_call()
    assert deadline.remaining_ms() == 0
    assert len(context.calls) >= 4  # asked the context every time, never cached


def test_a_wait_before_the_call_counts_against_the_budget() -> None:
    context = ManualContext(remaining_ms=20_000)
    deadline = Deadline(context, call_budget_ms=10_000, margin_ms=5_000)
    assert deadline.allows_call(after_wait_s=4.9)
    assert not deadline.allows_call(after_wait_s=5.0)


def test_deadline_with_the_counting_down_lambda_context() -> None:
    # GIVEN the factory context, which really counts down
    roomy = Deadline(LambdaContext(timeout_ms=60_000), call_budget_ms=13_000)
    tight = Deadline(LambdaContext(timeout_ms=10_000), call_budget_ms=13_000)
    # THEN only the roomy one allows a call
    assert roomy.allows_call()
    assert not tight.allows_call()
    assert 55_000 < roomy.remaining_ms() <= 60_000


def test_a_context_without_a_working_clock_means_time_is_up() -> None:
    class Broken:
        def get_remaining_time_in_millis(self) -> int:
            raise RuntimeError("no clock")

    deadline = Deadline(Broken(), call_budget_ms=1, margin_ms=0)
    assert deadline.remaining_ms() == 0
    assert not deadline.allows_call()
