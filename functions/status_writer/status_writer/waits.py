"""How long one portal may wait for its rate limit in one invocation (README: Many portals). Pure: no
I/O; time is the caller's.

A single-portal deployment waits as long as the time budget allows. A portal of several waits at most
``PORTAL_MAX_WAIT_S`` in all, and freely (not counted) while another portal of its batch still
delivers: that holds nobody back, so it is taken in short steps and judged again at each. Past its
share its records come back with the wait as their backoff. Once one of the portal's reads is
answered (the freshness check), its calls may wait up to ``AFTER_READS_WAIT_S`` more: giving up then
would waste the slots spent on reading, and the next receive would spend them again, so a throttled
portal would read and come back until SQS's receives ran out. Its first answered read, not its last:
a batch's reads are two calls per chunk, and a chunk whose statuses were read but whose opt-outs
waited would otherwise come back a slot short.

A portal whose batch held others once had no wait at all after they were done (so as not to hold
their next batch): a call one pacing slot away (0.2-0.7 s) then gave its records back, and with
three portals in `make chaos` those refusals were 40% of all retries and walked valid messages to
SQS's ``maxReceiveCount`` (README: Many portals).
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

    def start(self, is_free: Callable[[], bool] | None = None) -> None:
        """A new invocation: nothing waited yet; ``is_free`` says when a wait holds nobody back."""
        self.waited_s = 0.0
        self.read_at_s = None
        self.is_free = is_free or _never

    def read_answered(self) -> None:
        """A read of the portal was answered in this invocation: from the first, its calls may wait
        ``AFTER_READS_WAIT_S`` more."""
        if self.read_at_s is None:
            self.read_at_s = self.waited_s

    @property
    def limit_s(self) -> float:
        """How long this portal may wait in all in this invocation."""
        after_reads = -math.inf if self.read_at_s is None else self.read_at_s + AFTER_READS_WAIT_S
        return max(self.most_s, after_reads)

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
