"""What the emulator observed: a bounded request log and counters. Not thread-safe: callers hold the
emulator lock. Entries hold a token fingerprint, never a token."""

from __future__ import annotations

import copy
from collections import Counter, deque
from typing import Any


class RequestLog:
    """The last `limit` API requests, oldest first."""

    def __init__(self, limit: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)

    def append(self, entry: dict[str, Any]) -> None:
        """Record one request (the entry must not be mutated afterwards)."""
        self._entries.append(entry)

    def resize(self, limit: int) -> None:
        """Keep at most `limit` entries from now on (the newest are kept)."""
        if limit != self._entries.maxlen:
            self._entries = deque(self._entries, maxlen=limit)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def entries(self) -> list[dict[str, Any]]:
        """Independent copies of the entries, so callers cannot alter the log."""
        return copy.deepcopy(list(self._entries))


class Counters:
    """Requests per route and status, 429s per policy, injected faults per type."""

    def __init__(self) -> None:
        self.total = 0
        self._by_route: dict[str, Counter[str]] = {}
        self._by_status: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def record(self, route: str, status: int | None, policy: str | None, faults: list[str]) -> None:
        """Count one request; `status` None means no response was sent (drop, reset, hang)."""
        key = "none" if status is None else str(status)
        self.total += 1
        self._by_route.setdefault(route, Counter())[key] += 1
        self._by_status[key] += 1
        if policy is not None:
            self._rate_limited[policy] += 1
        for name in faults:
            self._faults[name] += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-able view: `total`, `by_route`, `by_status`, `rate_limited`, `faults`."""
        return {
            "total": self.total,
            "by_route": {route: dict(c) for route, c in sorted(self._by_route.items())},
            "by_status": dict(self._by_status),
            "rate_limited": dict(self._rate_limited),
            "faults": dict(self._faults),
        }
