"""Pace HubSpot calls from the X-HubSpot-RateLimit-* headers, before a 429 happens.

HubSpot's burst limit is a rolling window per app (Max requests per Interval). Every concurrent
invocation of the function shares it, and every response reports what is left, so the headers are
the coordination signal. The pacer keeps the last report and counts what this environment started
since; a slot used by this environment frees exactly one interval after it was used, while slots that
other environments free are assumed to be reused by them. No I/O: time is injected.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class RateLimitReport:
    """What one response said about the burst window."""

    maximum: int
    remaining: int
    interval_s: float

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitReport | None:
        """None when the headers are missing or garbled (HubSpot omits them on some responses)."""
        try:
            maximum = int(headers["x-hubspot-ratelimit-max"])
            remaining = int(headers["x-hubspot-ratelimit-remaining"])
        except (KeyError, ValueError):
            return None
        try:
            interval_s = int(headers.get("x-hubspot-ratelimit-interval-milliseconds", "")) / 1000
        except ValueError:
            interval_s = DEFAULT_INTERVAL_S
        if maximum <= 0 or interval_s <= 0:
            return None
        return cls(maximum=maximum, remaining=max(0, remaining), interval_s=interval_s)


class RateLimitPacer:
    """Decides when the next call may start. Thread-safe; one per execution environment."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        reserve: int = 1,
    ) -> None:
        self._clock = clock
        self._jitter = jitter
        self._reserve = reserve
        self._lock = threading.Lock()
        self._report: RateLimitReport | None = None
        self._reported_at = 0.0
        self._own_starts: deque[float] = deque()  # start times of this environment's calls
        self._blocked_until = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next call; 0.0 means go now (and the slot is taken)."""
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            report = self._report
            if report is None or now - self._reported_at >= report.interval_s:
                return self._take(now)  # nothing recent is known: the window has rolled
            # A call of ours that started at s frees its slot at s + interval; calls that started before
            # the report's window can no longer matter.
            interval = report.interval_s
            while self._own_starts and self._own_starts[0] <= self._reported_at - interval:
                self._own_starts.popleft()
            freed_since = sum(1 for start in self._own_starts if start + interval <= now)
            started_since = sum(1 for start in self._own_starts if start > self._reported_at)
            available = report.remaining + freed_since - started_since
            if available > self._reserve:
                return self._take(now)
            # Wait for this environment's oldest call in the window to age out, or probe again after
            # one average slot, whichever comes first; jitter keeps invocations from probing in step.
            slot = interval / report.maximum
            pending = [start + interval - now for start in self._own_starts if start + interval > now]
            wait = min([slot * 2, *pending])
            return max(0.001, wait) * (1 + 0.5 * self._jitter())

    def _take(self, now: float) -> float:
        # Starts older than two intervals can never count again (the next report is newer than now), so
        # drop them here too: without a fresh report the pruning in delay() never runs and the deque grew
        # by one entry per call for the life of the execution environment.
        interval = max(DEFAULT_INTERVAL_S, self._report.interval_s if self._report else 0.0)
        while self._own_starts and self._own_starts[0] <= now - 2 * interval:
            self._own_starts.popleft()
        self._own_starts.append(now)
        return 0.0

    def now(self) -> float:
        """The pacer's clock, so a caller can stamp when it sent a request."""
        return self._clock()

    def observe(self, report: RateLimitReport | None, sent_at: float | None = None) -> None:
        """Record a response's headers. ``sent_at`` (from ``now()``) is when its request left: HubSpot
        counted every call that reached it before that one, but not necessarily the calls started since,
        so those stay counted against the reported remainder. A report about an older request than the
        one already known is ignored."""
        if report is None:
            return
        with self._lock:
            stamp = self._clock() if sent_at is None else sent_at
            if self._report is not None and stamp < self._reported_at:
                return
            self._report = report
            self._reported_at = stamp

    def block_for(self, seconds: float) -> None:
        """After a ten-secondly 429: nobody in this environment starts a call for ``seconds``."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
