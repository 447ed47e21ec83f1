"""Pace HubSpot calls from the X-HubSpot-RateLimit-* headers, before a 429 happens.

HubSpot's burst limit is a rolling window per app (Max requests per Interval). Every concurrent
invocation of the function shares it, and every response reports what is left, so the headers are
the coordination signal. The pacer keeps the last report (stamped with when its request left) and the
start of every call of this environment. With nothing recent known, one call probes and the others wait
for its answer. A slot this environment used frees one interval later and is reused at once; the free
slots a report shows are seen by every environment, so each takes only its share of them, keeps one
more back while the others outnumber it, grows into them at half speed while others are busy, and
counts them as taken by the others, at the rate the report shows them busy, as the report ages.
After a 429 it waits only until its oldest call in the window leaves it. No I/O: time and jitter are
injected.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_INTERVAL_S = 10.0
# Without rate-limit headers, the window is taken to be HubSpot's lowest documented burst limit: 100
# calls per 10 s (Free and Starter private apps; Professional and Enterprise allow 190). Waiting for a
# report that never comes held this environment to one call per probe timeout, about one call a second.
DEFAULT_MAXIMUM = 100
PROBE_TIMEOUT_S = 1.0  # a probe that has not answered by then no longer holds the others back
PROBE_WAIT_S = 0.01


@dataclass(frozen=True, slots=True)
class RateLimitReport:
    """What one response said about the burst window."""

    maximum: int
    remaining: int
    interval_s: float
    assumed: bool = False  # made up from DEFAULT_MAXIMUM for an answer that carried no headers

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
        margin_s: float = 0.01,
    ) -> None:
        self._clock = clock
        self._jitter = jitter
        self._reserve = reserve
        self._lock = threading.Lock()
        self._report: RateLimitReport | None = None
        self._interval_s = DEFAULT_INTERVAL_S  # the latest report's window, kept when it is dropped
        self._reported_at = -math.inf  # when the last report's request left (or the report was dropped)
        self._observed_at = -math.inf  # when the last report arrived
        self._own_starts: list[float] = []  # start times of this environment's calls, in order
        self._blocked_until = 0.0
        self._margin_s = margin_s
        self._reused: deque[float] = deque()  # when the own slots this environment reused had freed
        self._decided_for = -1.0  # the report whose free slots this environment last decided on
        self._granted = 0  # slots of that report this environment may still take
        self._shared_at = -1.0  # when this environment last took a slot of a report's share
        self._kept_back = reserve  # the reserve, plus one while the others outnumber this environment

    def delay(self) -> float:
        """Seconds to wait before the next call; 0.0 means go now (and the slot is taken)."""
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            report = self._report
            if report is None or now - self._reported_at >= report.interval_s:
                return self._probe(now)
            return self._paced(now, report)

    def _probe(self, now: float) -> float:
        """Nothing recent is known: one call goes first and its answer tells the others."""
        if (
            self._own_starts
            and now - self._own_starts[-1] < PROBE_TIMEOUT_S
            and self._own_starts[-1] > self._reported_at
        ):
            return PROBE_WAIT_S * (1 + self._jitter())
        return self._take(now)

    def _paced(self, now: float, report: RateLimitReport) -> float:
        interval = report.interval_s
        sent = self._reported_at
        slot = interval / report.maximum
        margin = self._margin_s
        starts = self._own_starts  # sorted: every count below is a binary search, not a scan
        del starts[: bisect_right(starts, sent - interval)]

        def free_at(start: float) -> float:
            return start + interval + margin

        # A call of ours that started at s frees its slot at s + interval (+ a margin for the time the
        # request took to arrive). A slot we freed a moment ago is ours to reuse at once; one left unused
        # for longer than a slot may have been taken by another environment meanwhile. Each freed slot
        # is reused once: reuses are remembered by the time the slot they took was freed.
        freed = bisect_right(starts, now, key=free_at)  # slots of ours freed by now
        reused = self._reused_since(now - slot)
        for start in starts[bisect_right(starts, now - slot, key=free_at) : freed]:
            freed_at = free_at(start)
            if freed_at not in reused:
                return self._take(now, reusing=freed_at)
            reused.remove(freed_at)
        # HubSpot counted the reported call and what reached it before; calls of ours that left within
        # a margin before the reported one may have arrived after it, so they count as not yet counted.
        before_margin = bisect_right(starts, sent - margin)
        up_to_sent = bisect_right(starts, sent)
        unseen = len(starts) - before_margin
        reported_call = min(1, up_to_sent - before_margin)
        available = report.remaining + freed - (unseen - reported_call)
        # A report ages: the environments it shows busy go on taking slots at the rate it shows them
        # (their calls in the window per interval), so its free slots shrink while it is read again
        # later (traced in make bench: most 429s were shares taken on a report a second old, by an
        # invocation that started after the answer came; README: Performance, figure 8).
        others = max(0, report.maximum - report.remaining - up_to_sent)
        available -= int(max(0.0, now - self._observed_at) * others / interval)
        # Slots the report shows free are seen by every environment at once: once per report, this
        # environment grants itself its share of them, the free slots beyond those it keeps back divided
        # among the environments the report shows busy (randomly rounded, so shares add up on average).
        # Only a report about a call that left after the last share was taken decides again: the reports
        # in between show the same free slots, which the others are taking too. And a share is at most
        # the calls this environment has in the report's window (half of them while others are busy; at
        # least one): environments that start, or come back from a 429, together grow into the window
        # instead of all taking it.
        if self._decided_for < sent and sent >= self._shared_at:
            self._decided_for = sent
            own = up_to_sent  # the older starts were dropped above
            sharers = 1 + others / max(own, 1)
            # The slots a report shows free are mostly the slack every environment keeps back for the
            # timing of its reused slots. An environment the others together outnumber keeps one more
            # back: judging the number of sharers from its own small count, it would otherwise take that
            # slack (traced in make bench: the one environment that took it collected most of the 429s).
            self._kept_back = self._reserve + (1 if others > own else 0)
            share = int(max(0, available - self._kept_back) / sharers + self._jitter())
            # Growth per report: alone, double (the report shows everything but our own unseen calls,
            # which are counted); with others busy, half as fast, because their calls made since the
            # report are not in it and environments that start together would all double into them.
            self._granted = min(share, max(own if others == 0 else own // 2, 1))
        if self._granted > 0 and available > self._kept_back:
            self._granted -= 1
            self._shared_at = now
            return self._take(now)
        # Otherwise look again when our next slot frees (then reuse it without delay) or after one
        # average slot, jittered so invocations do not look in step, whichever comes first.
        wait = slot * (1 + 0.5 * self._jitter())
        pending = free_at(starts[freed]) - now if freed < len(starts) else wait
        return max(0.001, min(wait, pending))

    def _reused_since(self, since: float) -> list[float]:
        """When the own slots reused within the last slot time had freed."""
        while self._reused and self._reused[0] <= since:
            self._reused.popleft()
        return list(self._reused)

    def _take(self, now: float, reusing: float | None = None) -> float:
        # Starts older than two intervals can never count again (the next report is newer than now), so
        # drop them here too: without a fresh report the pruning in delay() never runs and the list grew
        # by one entry per call for the life of the execution environment.
        interval = max(DEFAULT_INTERVAL_S, self._interval_s)
        del self._own_starts[: bisect_right(self._own_starts, now - 2 * interval)]
        insort(self._own_starts, now)
        if reusing is not None:
            self._reused.append(reusing)
        return 0.0

    def now(self) -> float:
        """The pacer's clock, so a caller can stamp when it sent a request."""
        return self._clock()

    def observe(self, report: RateLimitReport | None, sent_at: float | None = None) -> None:
        """Record a response's headers (None: it had none, see DEFAULT_MAXIMUM). ``sent_at`` (from ``now()``) is when its request left: HubSpot
        counted every call that reached it before that one, but not necessarily the calls started since,
        so those stay counted against the reported remainder. A report about an older request than the
        one already known, or sent before a Retry-After wait began, is ignored."""
        with self._lock:
            stamp = self._clock() if sent_at is None else sent_at
            if report is None:
                report = self._assumed_report(stamp)
                if report is None:
                    return
            if stamp < self._reported_at:
                return
            self._report = report
            self._reported_at = stamp
            self._observed_at = self._clock()
            self._interval_s = report.interval_s

    def _assumed_report(self, stamp: float) -> RateLimitReport | None:
        """For an answer without headers: a recent real report stands; otherwise the documented default
        window, with this environment's own calls in it as the only ones known."""
        known = self._report
        if known is not None and not known.assumed and stamp - self._reported_at < known.interval_s:
            return None
        interval = DEFAULT_INTERVAL_S
        starts = self._own_starts
        own = bisect_right(starts, stamp) - bisect_right(starts, stamp - interval)
        return RateLimitReport(DEFAULT_MAXIMUM, max(0, DEFAULT_MAXIMUM - own), interval, assumed=True)

    def release(self, sent_at: float) -> None:
        """A call HubSpot refused (429) took no slot: forget its start, or one interval later it would
        count as a slot this environment freed, and spending that phantom slot is another 429."""
        with self._lock:
            index = bisect_right(self._own_starts, sent_at) - 1
            if index >= 0:
                del self._own_starts[index]

    def throttled(self) -> float:
        """After a ten-secondly 429 that named no wait: the window is full. Nobody in this environment
        starts a call until the oldest call of ours in the window leaves it (that slot is then ours
        again, and the reuse rule takes it at once), or for a whole jittered interval when we have
        none in it. A whole interval per 429 idled this environment's share of the window for up to
        ten seconds. Returns the wait."""
        with self._lock:
            now = self._clock()
            interval_s = self._interval_s
            oldest = bisect_right(self._own_starts, now - interval_s)
            if oldest < len(self._own_starts):
                until = self._own_starts[oldest] + interval_s + self._margin_s
            else:
                until = now + interval_s * (1 + 0.2 * self._jitter())
            self._blocked_until = max(self._blocked_until, until)
            return self._blocked_until - now

    def block_for(self, seconds: float) -> None:
        """After a ten-secondly 429 that named its wait (Retry-After): nobody in this environment starts
        a call for ``seconds``; then one call probes. The 429's report (none left) is forgotten: kept,
        it held every call back until it was a whole interval old, whatever Retry-After said."""
        with self._lock:
            now = self._clock()
            self._blocked_until = max(self._blocked_until, now + seconds)
            self._report = None
            self._reported_at = now  # answers to calls sent before now are as stale as the 429's


MAX_RETRY_AFTER_S = 60.0


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (capped, with jitter) when HubSpot names a wait; None when it does not."""
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.05), MAX_RETRY_AFTER_S) * (1 + 0.2 * random.random())
