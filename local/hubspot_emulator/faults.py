"""Fault injection: the `Faults` profile (what to break) and `FaultPlan` (its run-time state).

A profile is static data that loads from JSON; the plan turns it into one `FaultDecision` per matching
request, consuming the script and the throttle counters. Precedence for each request: the next script
entry, then `throttle_next`, then the `throttle_for_s` window, then `daily_exhausted`, then the random
rates (drop, 5xx, 429). Modifiers (`processing`, `nameless_context`, `whole_batch_400`,
`forced_missing_scopes`) apply on top of whatever the request's outcome is.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.hubspot_emulator.config import reject_unknown_fields

ERROR_STATUSES = (500, 502, 503, 504)

# Script vocabulary. Network-level entries happen before authentication; "*-after" entries process the
# request normally (writes applied) and then lose the response.
SCRIPT_ENTRIES = frozenset(
    {
        "ok",
        "500",
        "502",
        "503",
        "504",
        "429",
        "429-daily",
        "403",
        "drop",
        "reset",
        "hang",
        "drop-after",
        "hang-after",
        "batch-400",
        "processing",
        "nameless",
    }
)
_MODIFIERS = frozenset({"processing", "nameless", "batch-400", "403"})
_TUPLE_FIELDS = ("error_statuses", "script", "path_prefixes")


@dataclass(frozen=True, slots=True)
class Faults:
    """What to break, per run; replace it at any time with `set_faults()`."""

    latency_ms: float = 0.0
    latency_max_ms: float | None = None
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = ERROR_STATUSES
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    script: tuple[str, ...] = ()
    throttle_next: int = 0
    throttle_for_s: float = 0.0
    daily_exhausted: bool = False
    hang_s: float = 30.0
    whole_batch_400: bool = False
    processing: bool = False
    nameless_context: bool = False
    forced_missing_scopes: bool = False
    path_prefixes: tuple[str, ...] = ("/communication-preferences/",)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "throttle_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.latency_ms < 0 or (self.latency_max_ms is not None and self.latency_max_ms < self.latency_ms):
            raise ValueError("latency_ms must be >= 0 and latency_max_ms >= latency_ms")
        if not self.error_statuses or any(s not in ERROR_STATUSES for s in self.error_statuses):
            raise ValueError(f"error_statuses must be a non-empty subset of {ERROR_STATUSES}")
        bad = [e for e in self.script if e not in SCRIPT_ENTRIES]
        if bad:
            raise ValueError(f"unknown script entries {bad}; allowed: {sorted(SCRIPT_ENTRIES)}")
        if self.throttle_next < 0 or self.throttle_for_s < 0 or self.hang_s < 0:
            raise ValueError("throttle_next, throttle_for_s and hang_s must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with the dataclass's field names."""
        out = dataclasses.asdict(self)
        for name in _TUPLE_FIELDS:
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a (possibly partial) JSON dict; unknown keys are an error."""
        reject_unknown_fields(cls, data)
        values = dict(data)
        for name in _TUPLE_FIELDS:
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


PROFILES: dict[str, Faults] = {
    "none": Faults(),
    "flaky": Faults(latency_ms=5, latency_max_ms=50, error_rate=0.1, drop_rate=0.02),
    "throttled": Faults(throttle_rate=0.3),
    "slow": Faults(latency_ms=200, latency_max_ms=800),
    "daily-exhausted": Faults(daily_exhausted=True),
    "chaos": Faults(latency_ms=0, latency_max_ms=100, error_rate=0.1, drop_rate=0.05, throttle_rate=0.1),
}


def profile(name: str) -> Faults:
    """A named fault profile (see `PROFILES`)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; known: {sorted(PROFILES)}") from None


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request. `action` is "ok" or one of the script's non-modifier entries."""

    action: str = "ok"
    delay_s: float = 0.0
    processing: bool = False
    nameless_context: bool = False
    whole_batch_400: bool = False
    forced_missing_scopes: bool = False


NO_FAULT = FaultDecision()


class FaultPlan:
    """The run-time state of a `Faults` profile. Not thread-safe: the caller holds the emulator lock."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._script = deque(faults.script)
        self._throttle_left = faults.throttle_next
        self._throttle_until = time.monotonic() + faults.throttle_for_s if faults.throttle_for_s else 0.0
        self._rng = random.Random(faults.seed)

    def applies_to(self, path: str) -> bool:
        """Whether faults apply to this path at all."""
        return path.startswith(self.faults.path_prefixes)

    def remaining_script(self) -> list[str]:
        """The script entries not yet consumed."""
        return list(self._script)

    def decide(self) -> FaultDecision:
        """Consume one step of the plan for a matching request."""
        f = self.faults
        action = "ok"
        if self._script:
            action = self._script.popleft()
        elif self._throttle_left > 0:
            self._throttle_left -= 1
            action = "429"
        elif self._throttle_until and time.monotonic() < self._throttle_until:
            action = "429"
        elif f.daily_exhausted:
            action = "429-daily"
        else:
            action = self._random_action()
        delay = f.latency_ms
        if f.latency_max_ms is not None:
            delay = self._rng.uniform(f.latency_ms, f.latency_max_ms)
        return FaultDecision(
            action="ok" if action in _MODIFIERS else action,
            delay_s=delay / 1000.0,
            processing=f.processing or action == "processing",
            nameless_context=f.nameless_context or action == "nameless",
            whole_batch_400=f.whole_batch_400 or action == "batch-400",
            forced_missing_scopes=f.forced_missing_scopes or action == "403",
        )

    def _random_action(self) -> str:
        f = self.faults
        if f.drop_rate and self._rng.random() < f.drop_rate:
            return "drop"
        if f.error_rate and self._rng.random() < f.error_rate:
            return str(self._rng.choice(f.error_statuses))
        if f.throttle_rate and self._rng.random() < f.throttle_rate:
            return "429"
        return "ok"
