"""Rate limits: a rolling window per app (`TEN_SECONDLY_ROLLING`) and a daily counter per portal shared by
all private apps (`DAILY`, reset at UTC midnight). A refused request consumes nothing.
Not thread-safe: the emulator calls it while holding its lock."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from local.hubspot_emulator.config import EmulatorConfig

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"


@dataclass(frozen=True, slots=True)
class RateState:
    """What the `X-HubSpot-RateLimit-*` headers report after a request."""

    max: int
    remaining: int
    interval_ms: int
    daily: int | None = None
    daily_remaining: int | None = None

    def headers(self) -> list[tuple[str, str]]:
        """The rate-limit headers; the daily pair only for private apps."""
        out = [
            ("X-HubSpot-RateLimit-Max", str(self.max)),
            ("X-HubSpot-RateLimit-Remaining", str(self.remaining)),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(self.interval_ms)),
        ]
        if self.daily is not None:
            out.append(("X-HubSpot-RateLimit-Daily", str(self.daily)))
            out.append(("X-HubSpot-RateLimit-Daily-Remaining", str(self.daily_remaining)))
        return out

    def exhausted(self, policy: str) -> RateState:
        """The same state with the given policy's remaining count forced to 0 (for injected 429s)."""
        if policy == DAILY and self.daily is not None:
            return RateState(self.max, self.remaining, self.interval_ms, self.daily, 0)
        return RateState(self.max, 0, self.interval_ms, self.daily, self.daily_remaining)


class RateLimiter:
    """Counts admitted requests; `admit` either consumes one unit of quota or names the exceeded policy."""

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._daily_used = 0
        self._day = _utc_day()

    def admit(
        self, key: str, private: bool, config: EmulatorConfig, now: float
    ) -> tuple[str | None, RateState]:
        """Consume quota for one request, or return the policy that refuses it (nothing consumed)."""
        window = self._window(key, config, now)
        self._roll_day()
        if private and self._daily_used >= config.daily_limit:
            return DAILY, self._state(window, private, config)
        if len(window) >= config.rate_limit_max:
            return TEN_SECONDLY, self._state(window, private, config)
        window.append(now)
        if private:
            self._daily_used += 1
        return None, self._state(window, private, config)

    def peek(self, key: str | None, private: bool, config: EmulatorConfig, now: float) -> RateState:
        """The current state without consuming anything (`key=None`: an unauthenticated caller)."""
        if key is None:
            return RateState(config.rate_limit_max, config.rate_limit_max, config.rate_limit_interval_ms)
        self._roll_day()
        return self._state(self._window(key, config, now), private, config)

    def daily_used(self) -> int:
        """Requests counted against today's portal-wide daily limit."""
        self._roll_day()
        return self._daily_used

    def _window(self, key: str, config: EmulatorConfig, now: float) -> deque[float]:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        cutoff = now - config.rate_limit_interval_ms / 1000.0
        while window and window[0] <= cutoff:
            window.popleft()
        return window

    def _state(self, window: deque[float], private: bool, config: EmulatorConfig) -> RateState:
        remaining = max(0, config.rate_limit_max - len(window))
        if not private:
            return RateState(config.rate_limit_max, remaining, config.rate_limit_interval_ms)
        daily_remaining = max(0, config.daily_limit - self._daily_used)
        return RateState(
            config.rate_limit_max,
            remaining,
            config.rate_limit_interval_ms,
            config.daily_limit,
            daily_remaining,
        )

    def _roll_day(self) -> None:
        today = _utc_day()
        if today != self._day:
            self._day = today
            self._daily_used = 0


def _utc_day() -> int:
    return int(time.time() // 86_400)
