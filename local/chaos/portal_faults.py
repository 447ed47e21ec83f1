"""The faults of one portal in a `make chaos --portals N` run, and what shows the others were not held.

README, Many portals: "When one portal breaks (secret missing, token revoked, scopes lost, rate or daily
limit): its messages come back with backoff (AUTHENTICATION, ...) and the others are applied in the same
invocation." `PortalRevocation` revokes one portal's token for a window of every fault cycle and rotates
it at the window's end (a new token in HubSpot, then in that portal's secret). `check_isolation` then
reads the evidence: the revoked portal's 401s inside the windows, the other portals' applied writes in
their own request logs inside the same windows (docs/emulator.md, Several portals), and invocations
whose summary line (`portals`) holds the revoked portal's messages back while applying another's.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.chaos.injection import InjectionCounts
from local.chaos.portals import Credential
from local.workload.tally import BATCH_LOG_MESSAGE
from local.workload.verify import parse_timestamp

# (at, length) as fractions of the cycle: after the all-portal 401 window (0.76-0.80) and over the DLQ
# outage, which holds back no HubSpot write (local.chaos.schedule.WINDOWS)
REVOCATION_AT, REVOCATION_LENGTH = 0.81, 0.14
WRITE_ROUTES = (
    "statuses/batch/write",
    "statuses/batch/unsubscribe-all",
    "statuses/{subscriberIdString}",
    "statuses/{subscriberIdString}/unsubscribe-all",
)


class PortalRevocation:
    """Revokes `credential`'s token for a window of every cycle, then rotates it; `windows` keeps each
    window's (start, end) in time.time(). Stopping ends an open window (the portal gets a live token).
    Without a credential (a one-portal run) it does nothing."""

    def __init__(
        self, credential: Credential | None, *, secrets: Any, counts: InjectionCounts, cycle_s: float
    ) -> None:
        self.credential = credential
        self.secrets = secrets
        self.counts = counts
        self.cycle_s = cycle_s
        self.windows: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self._opened: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-portal-revocation")

    def start(self) -> None:
        if self.credential is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30.0)
        if self._opened is not None:
            self._close()

    def _run(self) -> None:
        start = time.monotonic()
        cycle = 0
        while not self._stop.is_set():
            begin = start + (cycle + REVOCATION_AT) * self.cycle_s
            if self._stop.wait(max(0.0, begin - time.monotonic())):
                return
            try:
                self._opened = time.time()
                assert self.credential is not None  # started only with one
                self.credential.revoke()
                if self._stop.wait(max(0.0, begin + REVOCATION_LENGTH * self.cycle_s - time.monotonic())):
                    return  # stop() closes it
                self._close()
            except Exception as exc:  # keep cycling; report it
                self.errors.append(f"portal revocation: {type(exc).__name__}: {exc}")
            cycle += 1

    def _close(self) -> None:
        opened, self._opened = self._opened, None
        if self.credential is not None:
            self.credential.rotate(self.secrets, self.counts)
        if opened is not None:
            self.windows.append((opened, time.time()))


@dataclass
class WindowEvidence:
    """What the portals' request logs and the summary lines show for one revocation window."""

    start: float
    end: float
    revoked_401s: int = 0
    writes_applied: Counter[int] = field(default_factory=Counter)  # other portal -> 2xx writes in it
    other_requests: int = 0
    mixed_invocations: int = 0  # held the revoked portal's messages back, applied another portal's


def check_isolation(
    credentials: Sequence[Credential],
    revoked: int,
    windows: Sequence[tuple[float, float]],
    invocations: Iterable[Any],
) -> tuple[list[str], dict[str, Any]]:
    """The revoked portal's windows: problems (empty: the other portals were applied while it lasted)
    and the figures."""
    logs = {c.portal: c.emulator.request_log() for c in credentials if c.portal is not None}
    evidence = [WindowEvidence(start, end) for start, end in windows]
    for portal, log in logs.items():
        for entry in log:
            _place(entry, portal, revoked, evidence)
    lines = [(record, line) for record in invocations for line in _summary_lines(record)]
    for window in evidence:
        window.mixed_invocations = sum(
            1
            for record, line in lines
            if record.started < window.end and record.ended > window.start and _mixed(line, revoked)
        )
    problems = _problems(revoked, evidence, sorted(p for p in logs if p != revoked))
    return problems, {
        "revoked_portal": revoked,
        "revocation_windows": len(evidence),
        "revocation_window_s": round(sum(w.end - w.start for w in evidence), 1),
        "revoked_portal_401s_in_windows": sum(w.revoked_401s for w in evidence),
        "other_portals_writes_applied_in_windows": {
            str(p): sum(w.writes_applied[p] for w in evidence) for p in sorted(logs) if p != revoked
        },
        "invocations_applying_others_while_revoked": sum(w.mixed_invocations for w in evidence),
        "windows_refused_without_others_writes": sum(
            1 for w in evidence if w.revoked_401s and not sum(w.writes_applied.values())
        ),
    }


def per_portal_figures(credentials: Sequence[Credential], invocations: Iterable[Any]) -> dict[str, Any]:
    """Each portal's requests, 401s and 429s (its own emulator counters) and the outcome counts the
    summary lines give it (README, Many portals: `portals`)."""
    outcomes: dict[str, Counter[str]] = {}
    for record in invocations:
        if record.verdict.kind == "failed":  # a failed batch comes back: its records count then
            continue
        for line in _summary_lines(record):
            for portal, counts in (line.get("portals") or {}).items():
                outcomes.setdefault(str(portal), Counter()).update(
                    {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
                )
    out: dict[str, Any] = {}
    for credential in credentials:
        counters = credential.emulator.counters()
        by_status = counters.get("by_status", {})
        out[str(credential.portal)] = {
            "requests": int(counters.get("total", 0)),
            "401": int(by_status.get("401", 0)),
            "429": sum(int(n) for n in (counters.get("rate_limited") or {}).values()),
            "tokens": len(credential.used),
            **dict(outcomes.get(str(credential.portal), Counter())),
        }
    return out


def _place(entry: Mapping[str, Any], portal: int, revoked: int, evidence: Sequence[WindowEvidence]) -> None:
    at = parse_timestamp(entry.get("at"))
    if at is None:
        return
    for window in evidence:
        if not window.start <= at <= window.end:
            continue
        status = entry.get("status")
        if portal == revoked:
            window.revoked_401s += int(status == 401)
            continue
        window.other_requests += 1
        if entry.get("method") == "POST" and entry.get("route") in WRITE_ROUTES and _ok(status):
            window.writes_applied[portal] += 1


def _ok(status: Any) -> bool:
    return isinstance(status, int) and 200 <= status < 300


def _summary_lines(record: Any) -> list[Mapping[str, Any]]:
    return [line for line in record.result.log_records if line.get("message") == BATCH_LOG_MESSAGE]


def _mixed(line: Mapping[str, Any], revoked: int) -> bool:
    portals = line.get("portals") or {}
    held = (portals.get(str(revoked)) or {}).get("retryable", 0)
    applied = any((counts or {}).get("applied", 0) for p, counts in portals.items() if p != str(revoked))
    return bool(held) and applied


def _problems(revoked: int, evidence: Sequence[WindowEvidence], others: Sequence[int]) -> list[str]:
    if not evidence:
        return [f"portal {revoked}'s revocation window never opened"]
    refused = [w for w in evidence if w.revoked_401s]
    if not refused:
        return [f"portal {revoked}'s revoked token was never refused (no 401 in {len(evidence)} windows)"]
    # One window alone need not hold another portal's write: it is a few seconds, an invocation can
    # outlast it, and an update HubSpot already holds is applied without a call (README, HubSpot-side
    # changes). Over all windows each other portal must have written, and some invocation must show it.
    problems = []
    idle = [p for p in others if not any(w.writes_applied[p] for w in refused)]
    if idle:
        problems.append(f"portals {idle} applied nothing while portal {revoked}'s token was revoked")
    if not any(w.mixed_invocations for w in refused):
        problems.append(
            f"no invocation applied another portal's messages while holding portal {revoked}'s back "
            "(README, Many portals: the others are applied in the same invocation)"
        )
    return problems
