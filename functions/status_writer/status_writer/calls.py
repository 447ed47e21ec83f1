"""What one invocation's HubSpot calls share: its time budget and what the calls cost.

A value of its own so the HubSpot client and the invocation's data path (``runtime.Invocation``) pass
one object without importing each other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from status_writer.deadline import Deadline


@dataclass(slots=True)
class CallStats:
    """What one invocation's calls cost; shared by the worker threads, so updates take a lock."""

    calls: int = 0
    throttled: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    superseded_by_hubspot: int = 0  # records older than a HubSpot-side change of their key
    unchanged: int = 0  # records HubSpot already held: no call needed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def no_calls(self, superseded_by_hubspot: int, unchanged: int) -> None:
        """Count records the freshness check settled without a call (several portals count at once)."""
        with self._lock:
            self.superseded_by_hubspot += superseded_by_hubspot
            self.unchanged += unchanged

    def record(self, latency_ms: float, throttled: bool) -> None:
        with self._lock:
            self.calls += 1
            self.throttled += int(throttled)
            self.latencies_ms.append(latency_ms)


@dataclass(frozen=True, slots=True)
class CallContext:
    """One invocation's deadline and call statistics, carried together into every HubSpot call."""

    deadline: Deadline
    stats: CallStats = field(default_factory=CallStats)
