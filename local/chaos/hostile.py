"""Hostile answers as chaos fault kinds: every HubSpot call of a run goes through the hostile kit
(local.hostile) with the emulator as upstream, and in a hostile window a share of the calls is answered
in one of the kit's shapes (README: Reliability).

Two families, so that what the function is told never contradicts what HubSpot did:

- answered on the way (``BLOCKED``): a proxy or WAF page (HTML 400/413/200) or a redirect; the call never
  reached HubSpot, so nothing was applied;
- mangled on the way back (every other kind): the call went to the emulator, which applied it, and its
  real answer is then trickled, reset mid-body, truncated, relabelled, or replaced by an empty, ``null``,
  non-batch or huge 2xx, or never delivered (hang). The function must treat what it cannot read as an
  unknown outcome and retry, and the ordering rules keep the newest state.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from local.hostile import FAULT_KINDS, Answer, fault_answer

BLOCKED = frozenset({"html_400", "html_413", "html_200", "redirect"})
HUGE_BYTES = 12 * 1024 * 1024  # past the function's 8 MiB answer cap, cheap to stream over loopback
CONTROL_PREFIX = "/_emulator/"


class HostileFaults:
    """The run's hostile relay: which kinds are on now, at which rate, and how many of each were
    injected. ``relay`` is the kit's ``Profile.relay`` hook; the schedule calls ``set``/``clear``."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._kinds: tuple[str, ...] = ()
        self._rate = 0.0
        self.counts: Counter[str] = Counter()

    def set(self, kinds: Sequence[str], rate: float) -> None:
        """Inject ``kinds`` (picked at random) into a ``rate`` share of the calls from now on."""
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown hostile fault kinds: {sorted(unknown)}")
        with self._lock:
            self._kinds, self._rate = tuple(kinds), rate

    def clear(self) -> None:
        with self._lock:
            self._kinds, self._rate = (), 0.0

    def _draw(self, path: str) -> str | None:
        with self._lock:
            if not self._kinds or path.startswith(CONTROL_PREFIX) or self._random.random() >= self._rate:
                return None
            kind = self._random.choice(self._kinds)
            self.counts[kind] += 1
            return kind

    def relay(self, path: str, body: Any, upstream: Callable[[], Answer]) -> Answer:
        """The answer the function gets for one call (see the module's two families)."""
        kind = self._draw(path)
        if kind is None:
            return upstream()
        if kind in BLOCKED:
            return fault_answer(kind, body)
        return mangle(kind, upstream(), body)


def mangle(kind: str, real: Answer, request: Any) -> Answer:
    """HubSpot's real answer ``real`` as fault ``kind`` delivers it."""
    size = len(real.body)
    if kind == "trickle":
        return dataclasses.replace(real, trickle_s=0.5)
    if kind == "reset":
        return dataclasses.replace(real, reset_after=max(1, size // 2))
    if kind == "truncated_200":
        return dataclasses.replace(real, body=real.body[: size // 2], content_length=max(1, size))
    if kind == "wrong_content_type":
        return dataclasses.replace(real, content_type="text/plain")
    return fault_answer(kind, request, huge_bytes=HUGE_BYTES)
