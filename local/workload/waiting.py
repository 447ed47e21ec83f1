"""What a draining run waits for: messages the function postponed (retry backoff) and messages it
parked after HubSpot's DAILY limit, read from the SQS server's record of visibility changes.

SQS has no call that says when a postponed message comes back, so the local moto server appends every
visibility change to a file (local.aws.moto.record_visibility_changes); `PostponementLog` reads it as it
grows. A postponement longer than the function's backoff cap (RETRY_BACKOFF_MAX_SECONDS) can only be a
DAILY park (README, Outcomes: retry backoff), so that is what "parked" means here. Parked messages are
not lost: SQS delivers them again once their time is up, after the run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Postponement:
    """The latest visibility change of one message: when it becomes visible again, and when set."""

    message_id: str
    visible_at: float  # epoch seconds
    set_at: float


@dataclass(frozen=True)
class Waiting:
    """Messages not settled yet that are invisible because the function postponed them."""

    backoff: int = 0
    backoff_until: float | None = None  # the earliest of them to come back
    parked: frozenset[str] = frozenset()
    parked_until: float | None = None  # the earliest parked one to come back

    def describe(self, now: float) -> str:
        """``backoff 3 until 02:31:05Z (in 25 s)  parked 2 until 00:05Z (DAILY limit)``, or ''."""
        parts = []
        if self.backoff and self.backoff_until is not None:
            parts.append(
                f"backoff {self.backoff} until {clock(self.backoff_until)} (in {self.backoff_until - now:.0f} s)"
            )
        if self.parked and self.parked_until is not None:
            parts.append(f"parked {len(self.parked)} until {clock(self.parked_until)} (DAILY limit)")
        return "  ".join(parts)


def clock(epoch_s: float) -> str:
    """An epoch time as UTC ``HH:MM:SSZ``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%SZ")


def waiting_on(
    latest: Mapping[str, Postponement], settled: Collection[str], now: float, backoff_max_s: float
) -> Waiting:
    """Which unsettled messages are invisible until a later time: parked (postponed past the backoff
    cap) or in backoff. Pure."""
    pending = [p for p in latest.values() if p.message_id not in settled and p.visible_at > now]
    parked = [p for p in pending if p.visible_at - p.set_at > backoff_max_s + 1]
    backoff = [p for p in pending if p.visible_at - p.set_at <= backoff_max_s + 1]
    return Waiting(
        backoff=len(backoff),
        backoff_until=min((p.visible_at for p in backoff), default=None),
        parked=frozenset(p.message_id for p in parked),
        parked_until=min((p.visible_at for p in parked), default=None),
    )


class PostponementLog:
    """The visibility-change file as it grows: the latest change per message of the watched queues."""

    def __init__(self, path: Path, queue_names: Collection[str]) -> None:
        self.path = path
        self.queue_names = set(queue_names)
        self.latest: dict[str, Postponement] = {}
        self._offset = 0
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, Postponement]:
        """Read what was appended since the last call; returns the latest change per message."""
        with self._lock:
            if not self.path.exists():
                return dict(self.latest)
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next read
            self._offset += len(complete)
            for line in complete.splitlines():
                change = json.loads(line)
                if change.get("queue") in self.queue_names:
                    message_id = str(change["message_id"])
                    self.latest[message_id] = Postponement(
                        message_id, float(change["visible_at"]), float(change["set_at"])
                    )
            return dict(self.latest)

    def waiting(self, settled: Collection[str], backoff_max_s: float, now: float | None = None) -> Waiting:
        """`waiting_on` over what the file holds now."""
        return waiting_on(self.refresh(), settled, time.time() if now is None else now, backoff_max_s)
