"""The invocation's time budget, read from the LambdaContext. No I/O."""

from __future__ import annotations

from typing import Protocol

SAFETY_MARGIN_MS = 5_000  # left for dead-lettering, visibility changes and the response


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """Answers "may this still start?" so the function never runs into the Lambda timeout."""

    def __init__(
        self, context: RemainingTime, call_budget_ms: int, margin_ms: int = SAFETY_MARGIN_MS
    ) -> None:
        self._context = context
        self._call_budget_ms = call_budget_ms
        self._margin_ms = margin_ms

    def remaining_ms(self) -> int:
        try:
            return int(self._context.get_remaining_time_in_millis())
        except Exception:  # a context without a clock: behave as if time were up
            return 0

    def call_time_s(self) -> float:
        """How long a call starting now may take as a whole: its budget, or less when the invocation
        has less left before the margin (0 when nothing is left)."""
        return max(0.0, min(self._call_budget_ms, self.remaining_ms() - self._margin_ms) / 1000)

    def settle_time_s(self, reserve_ms: int = 1_000) -> float:
        """How long settling (DLQ, visibility changes) may still take: what is left but ``reserve_ms``
        for building and returning the response."""
        return max(0.0, (self.remaining_ms() - reserve_ms) / 1000)

    def allows_call(self, after_wait_s: float = 0.0) -> bool:
        """True if a HubSpot call, started after ``after_wait_s``, can finish with the margin left over."""
        return self.remaining_ms() - after_wait_s * 1000 > self._call_budget_ms + self._margin_ms
