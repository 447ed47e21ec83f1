"""How long a retryable message stays invisible before SQS delivers it again. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# SQS caps a message's visibility at 12 hours counted from its receipt, so a postponement must leave
# room for the time the invocation already ran (at most Lambda's 15-minute timeout).
SQS_MAX_VISIBILITY_S = 43_200 - 900


def retry_delay_s(receive_count: int, base_s: int, cap_s: int, floor_s: int | None = None) -> int:
    """Exponential in the receive count (base, 2 x base, 4 x base, ...) up to ``cap_s``, and never
    below ``floor_s`` (e.g. the time until HubSpot's daily limit resets)."""
    exponent = min(max(receive_count, 1) - 1, 20)
    delay = min(cap_s, base_s * (2**exponent))
    if floor_s is not None:
        delay = max(delay, floor_s)
    return int(max(0, min(delay, SQS_MAX_VISIBILITY_S)))


def seconds_until_daily_reset(now: datetime, margin_s: int = 300) -> int:
    """Time until the next midnight UTC plus a margin: when HubSpot's daily limit has surely rolled over
    for UTC accounts. HubSpot resets at midnight in the account's own time zone, which the API does not
    report; an account west of UTC retries once more and waits again (capped at SQS's 12 hours)."""
    current = now.astimezone(UTC)
    midnight = datetime(current.year, current.month, current.day, tzinfo=UTC) + timedelta(days=1)
    return min(SQS_MAX_VISIBILITY_S, int((midnight - current).total_seconds()) + margin_s)
