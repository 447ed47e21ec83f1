"""How long one portal may wait for its rate limit in one invocation (README: Many portals). Pure: no
I/O; time is the caller's.

A single-portal deployment waits as long as the time budget allows. A portal of several, alone in its
batch, waits at most ``PORTAL_MAX_WAIT_S`` in all. A portal whose batch holds others waits only while
another still delivers: that holds nobody back, so it is free, taken in short steps and judged again
at each; once the others are done, a wait would hold their next batch, so there is none, and its
records come back with the wait as their backoff (figure 8, one run with the 1 s for every portal:
median invocation 2.2 s with a throttled portal, 1.9 s without). Once one of the portal's reads is
answered (the freshness check), its calls may wait up to ``AFTER_READS_WAIT_S`` more: giving up then
would waste the slots spent on reading, and the next receive would spend them again, so a throttled
portal would read and come back until SQS's receives ran out. Its first answered read, not its last:
a batch's reads are two calls per chunk, and a chunk whose statuses were read but whose opt-outs
waited would otherwise come back a slot short.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from status_writer.config import AFTER_READS_WAIT_S, FREE_WAIT_STEP_S


def _never() -> bool:
    return False


@dataclass(slots=True)
class WaitBudget:
    """One portal's rate-limit waits in the current invocation: how long at most, how long so far."""

    most_s: float = math.inf
    waited_s: float = 0.0
    is_free: Callable[[], bool] = field(default=_never)
    read_at_s: float | None = None  # waited_s when a read of the portal was first answered in it
    shared: bool = False  # the batch holds other portals: no wait once they are done

    def start(self, is_free: Callable[[], bool] | None = None, shared: bool = False) -> None:
        """A new invocation: nothing waited yet; ``is_free`` says when a wait holds nobody back,
        ``shared`` that the batch holds other portals, whose next batch a wait would hold."""
        self.waited_s = 0.0
        self.read_at_s = None
        self.is_free = is_free or _never
        self.shared = shared

    def read_answered(self) -> None:
        """A read of the portal was answered in this invocation: from the first, its calls may wait
        ``AFTER_READS_WAIT_S`` more."""
        if self.read_at_s is None:
            self.read_at_s = self.waited_s

    @property
    def limit_s(self) -> float:
        """How long this portal may wait in all in this invocation."""
        after_reads = -math.inf if self.read_at_s is None else self.read_at_s + AFTER_READS_WAIT_S
        return max(0.0 if self.shared else self.most_s, after_reads)

    def allows(self, wait_s: float) -> bool:
        """Whether waiting ``wait_s`` (then trying again) is within this portal's share."""
        return self.is_free() or self.waited_s + wait_s <= self.limit_s

    def step(self, delay_s: float) -> float | None:
        """The wait to take now for a slot ``delay_s`` away, counted; None: this portal has waited its
        share, and its records come back."""
        if self.is_free():
            return min(delay_s, FREE_WAIT_STEP_S)
        if self.waited_s + delay_s > self.limit_s:
            return None
        self.waited_s += delay_s
        return delay_s
