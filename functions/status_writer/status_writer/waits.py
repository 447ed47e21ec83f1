"""How long one portal may wait for its rate limit in one invocation (README: Many portals). Pure: no
I/O; time is the caller's.

A single-portal deployment waits as long as the time budget allows. A portal of several waits at most
``PORTAL_MAX_WAIT_S`` in all, so one throttled portal never holds the others' next batch; a wait while
another portal of the batch still delivers holds nobody back, so it is free, taken in short steps and
judged again at each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from status_writer.config import FREE_WAIT_STEP_S


def _never() -> bool:
    return False


@dataclass(slots=True)
class WaitBudget:
    """One portal's rate-limit waits in the current invocation: how long at most, how long so far."""

    most_s: float = math.inf
    waited_s: float = 0.0
    is_free: Callable[[], bool] = field(default=_never)

    def start(self, is_free: Callable[[], bool] | None = None) -> None:
        """A new invocation: nothing waited yet; ``is_free`` says when a wait holds nobody back."""
        self.waited_s = 0.0
        self.is_free = is_free or _never

    def allows(self, wait_s: float) -> bool:
        """Whether waiting ``wait_s`` (then trying again) is within this portal's share."""
        return self.is_free() or self.waited_s + wait_s <= self.most_s

    def step(self, delay_s: float) -> float | None:
        """The wait to take now for a slot ``delay_s`` away, counted; None: this portal has waited its
        share, and its records come back."""
        if self.is_free():
            return min(delay_s, FREE_WAIT_STEP_S)
        if self.waited_s + delay_s > self.most_s:
            return None
        self.waited_s += delay_s
        return delay_s
