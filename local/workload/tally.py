"""Running totals of a local run, fed by the event source after every settled batch.

Applied/superseded/429 figures come from the handler's own "batch processed" log line (Powertools JSON
on the worker's stdout); deletions and retries come from what the event source did, so the two views
can be compared.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.aws.event_source import InvocationRecord

BATCH_LOG_MESSAGE = "batch processed"


@dataclass
class RunTally:
    """Thread-safe totals over every invocation of a run."""

    invocations: int = 0
    records_invoked: int = 0
    failed_invocations: int = 0
    partial_invocations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # ok / error / timeout / crash
    applied: int = 0
    superseded: int = 0
    handler_dead_lettered: int = 0
    handler_retryable: int = 0
    hubspot_calls: int = 0
    hubspot_throttled: int = 0
    retried: int = 0  # deliveries the event source left to come back (listed failures + failed batches)
    failure_categories: Counter[str] = field(default_factory=Counter)
    failure_samples: list[str] = field(default_factory=list)
    missing_batch_logs: int = 0
    cold_starts: int = 0
    durations_ms: list[float] = field(default_factory=list)
    deleted_ids: set[str] = field(default_factory=set)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)  # deleted id -> its invocation
    last_windows: dict[str, tuple[float, float]] = field(default_factory=dict)  # any id -> its latest one
    sent_ms: dict[str, int] = field(default_factory=dict)  # messageId -> SQS's SentTimestamp
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, invocation: InvocationRecord) -> None:
        """Add one settled batch (the event source's on_invocation hook)."""
        batch_lines = [r for r in invocation.result.log_records if r.get("message") == BATCH_LOG_MESSAGE]
        verdict = invocation.verdict
        with self._lock:
            self.invocations += 1
            self.records_invoked += len(invocation.message_ids)
            self.outcomes[invocation.result.status] += 1
            self.durations_ms.append(invocation.result.duration_ms)
            self.cold_starts += int(invocation.result.cold_start)
            if not batch_lines:
                self.missing_batch_logs += 1
            for line in batch_lines:
                self.hubspot_calls += int(line.get("hubspot_calls", 0))
                self.hubspot_throttled += int(line.get("hubspot_throttled", 0))
                if verdict.kind != "failed":  # a failed batch comes back: count its records then
                    self.applied += int(line.get("applied", 0))
                    self.superseded += int(line.get("superseded", 0))
                    self.handler_dead_lettered += int(line.get("dead_lettered", 0))
                    self.handler_retryable += int(line.get("retryable", 0))
                    self.failure_categories.update(_counts(line.get("failure_categories")))
            if verdict.kind == "failed":
                self.failed_invocations += 1
                if len(self.failure_samples) < 5:
                    self.failure_samples.append(verdict.reason)
            elif verdict.kind == "partial":
                self.partial_invocations += 1
            self.retried += len(verdict.retry_ids)
            self.deleted_ids.update(invocation.deleted_ids)
            for message_id in invocation.deleted_ids:
                self.windows[message_id] = (invocation.started, invocation.ended)
            for message_id in invocation.message_ids:
                self.last_windows[message_id] = (invocation.started, invocation.ended)

    def note_received(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Keep SQS's SentTimestamp of every received record (the event source's on_receive hook): the
        function orders updates by it, so the checks do too."""
        with self._lock:
            for record in records:
                stamp = (record.get("attributes") or {}).get("SentTimestamp")
                if isinstance(stamp, str) and stamp.isdigit():
                    self.sent_ms[str(record["messageId"])] = int(stamp)

    def settled(self) -> frozenset[str]:
        """The messageIds deleted so far (applied, superseded or dead-lettered by the function)."""
        with self._lock:
            return frozenset(self.deleted_ids)

    def snapshot(self) -> dict[str, int]:
        """The figures the progress line shows."""
        with self._lock:
            return {
                "deleted": len(self.deleted_ids),
                "invocations": self.invocations,
                "failed_invocations": self.failed_invocations,
                "retried": self.retried,
                "throttled": self.hubspot_throttled,
                "hubspot_calls": self.hubspot_calls,
            }


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int | float)}
