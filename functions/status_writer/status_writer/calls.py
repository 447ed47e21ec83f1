"""What one invocation's HubSpot calls share: its time budget and what the calls cost.

A value of its own so the HubSpot client and the invocation's data path (``runtime.Invocation``) pass
one object without importing each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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


@dataclass(slots=True)
class Postponed:
    """The records given their backoff before the invocation's end (settle.py), by message id: the
    seconds asked for. Shared by the worker threads, so updates take a lock."""

    _seconds: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, seconds: dict[str, int]) -> None:
        with self._lock:
            self._seconds.update(seconds)

    def get(self, message_id: str) -> int | None:
        with self._lock:
            return self._seconds.get(message_id)


@dataclass(frozen=True, slots=True)
class CallContext:
    """One invocation's deadline and call statistics, carried together into every HubSpot call.
    ``on_long_wait`` belongs to one call: what to do once while it waits long for its slot."""

    deadline: Deadline
    stats: CallStats = field(default_factory=CallStats)
    postponed: Postponed = field(default_factory=Postponed)
    on_long_wait: Callable[[float], None] | None = None
