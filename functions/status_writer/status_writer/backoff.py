"""How long a retryable message stays invisible before SQS delivers it again. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from status_writer.model import Failure, FailureCategory

# SQS refuses a visibility timeout reaching past 12 hours counted from the message's receive. The
# receive comes up to the largest batching window before the invocation starts, and the invocation
# sets the postponement at its end, up to Lambda's largest timeout later: a postponement leaves room
# for both (README "Outcomes").
SQS_VISIBILITY_LIMIT_S = 43_200
MAX_BATCHING_WINDOW_S = 300
MAX_FUNCTION_TIMEOUT_S = 900
SQS_MAX_VISIBILITY_S = SQS_VISIBILITY_LIMIT_S - MAX_BATCHING_WINDOW_S - MAX_FUNCTION_TIMEOUT_S
# Failures that wait for a person, not for time: a token HubSpot still refuses after a refresh (revoked,
# or its rotation not done yet) and scopes the app lacks. Their records wait the longest backoff from
# the first receive: the short ones would only spend receives until the fix (README: Outcomes).
WAIT_FOR_A_FIX = frozenset({FailureCategory.AUTHENTICATION, FailureCategory.MISSING_SCOPES})


def retry_delay_s(receive_count: int, base_s: int, cap_s: int, floor_s: int | None = None) -> int:
    """Exponential in the receive count (base, 2 x base, 4 x base, ...) up to ``cap_s``, and never
    below ``floor_s`` (e.g. the time until HubSpot's daily limit resets); never past
    ``SQS_MAX_VISIBILITY_S``, the longest postponement SQS accepts at the end of any invocation."""
    exponent = min(max(receive_count, 1) - 1, 20)
    delay = min(cap_s, base_s * (2**exponent))
    if floor_s is not None:
        delay = max(delay, floor_s)
    return int(max(0, min(delay, SQS_MAX_VISIBILITY_S)))


def failure_delay_s(
    receive_count: int, failure: Failure | None, base_s: int, cap_s: int, daily_retry_s: int | None = None
) -> int:
    """The backoff of a record that comes back: ``retry_delay_s`` for its receive count, never shorter
    than its failure asks for (``retry_after_s``; ``daily_retry_s`` after a ``DAILY`` 429 when set), and
    the cap at once for a failure in ``WAIT_FOR_A_FIX``."""
    floor = None if failure is None else failure.retry_after_s
    if failure is not None and failure.category is FailureCategory.DAILY_LIMIT and daily_retry_s is not None:
        floor = daily_retry_s
    if failure is not None and failure.category in WAIT_FOR_A_FIX:
        floor = max(floor or 0, cap_s)
    return retry_delay_s(receive_count, base_s, cap_s, floor)


def seconds_until_daily_reset(now: datetime, margin_s: int = 300) -> int:
    """Time until the next midnight UTC plus a margin: when HubSpot's daily limit has surely rolled over
    for UTC accounts. HubSpot resets at midnight in the account's own time zone, which the API does not
    report; an account west of UTC retries once more and waits again (capped at SQS_MAX_VISIBILITY_S)."""
    current = now.astimezone(UTC)
    midnight = datetime(current.year, current.month, current.day, tzinfo=UTC) + timedelta(days=1)
    return min(SQS_MAX_VISIBILITY_S, int((midnight - current).total_seconds()) + margin_s)
