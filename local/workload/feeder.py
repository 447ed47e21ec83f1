"""Send a workload to the source queue shard(s) while it drains, keeping each queue short.

Why flow control: moto's SQS does O(queue length) work per message on every send and receive, so a
queue preloaded with thousands of messages makes every call slow (ReceiveMessage of 10 takes ~0.3 s
with 1,000 queued, ~0.03 s with 50). The feeder therefore holds back while a shard's backlog (sent but
not yet received) is above a high-water mark, as a steady producer would. `high_water=None` preloads
everything instead (a burst, slower on moto).

Each key always goes to the same shard, and a burst is one SendMessageBatch call, so a key's updates
reach the same poller together, in the shuffled order the workload gave them.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.workload.workload import WorkItem, Workload

SEND_BATCH_MAX = 10


@dataclass
class ShardCounters:
    """Per-shard progress: what was sent and what the poller has received for the first time."""

    sent: int = 0
    first_received: int = 0

    @property
    def backlog(self) -> int:
        return self.sent - self.first_received


def shard_of(item: WorkItem, shards: int) -> int:
    """A stable shard per contact (every message about one address goes to one queue); unparseable
    bodies are spread by their text."""
    text = item.expectation.email or item.body
    return zlib.crc32(text.encode()) % shards


def split_by_shard(workload: Workload, shards: int) -> list[list[list[WorkItem]]]:
    """Bursts per shard, keeping the workload's order. Every message about one contact goes to one
    shard; a burst that mixes contacts (an event file) is split by contact, and an unparseable item
    follows the burst's first parseable one, or its own text if the burst has none."""
    per_shard: list[list[list[WorkItem]]] = [[] for _ in range(shards)]
    for burst in workload.bursts:
        addressed = [item for item in burst if item.expectation.email is not None]
        default = shard_of(addressed[0], shards) if addressed else None
        parts: dict[int, list[WorkItem]] = {}
        for item in burst:
            has_address = item.expectation.email is not None
            shard = shard_of(item, shards) if has_address or default is None else default
            parts.setdefault(shard, []).append(item)
        for shard, part in parts.items():
            per_shard[shard].append(part)
    return per_shard


def pack(bursts: Sequence[Sequence[WorkItem]]) -> list[list[WorkItem]]:
    """SendMessageBatch calls of up to 10 entries; a burst is never split across calls."""
    calls: list[list[WorkItem]] = []
    current: list[WorkItem] = []
    for burst in bursts:
        if current and len(current) + len(burst) > SEND_BATCH_MAX:
            calls.append(current)
            current = []
        current.extend(burst)
    if current:
        calls.append(current)
    return calls


@dataclass
class Feeder:
    """One sending thread per shard. `note_received` must be called with every received record."""

    queue_urls: Sequence[str]
    workload: Workload
    sqs_client: Callable[[], Any]
    high_water: int | None = 200
    counters: list[ShardCounters] = field(default_factory=list)
    send_errors: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.counters = [ShardCounters() for _ in self.queue_urls]
        self._plan = [pack(bursts) for bursts in split_by_shard(self.workload, len(self.queue_urls))]

    @property
    def sent(self) -> int:
        return sum(counter.sent for counter in self.counters)

    @property
    def done(self) -> bool:
        return all(not thread.is_alive() for thread in self._threads)

    def note_received(self, shard: int, records: Sequence[dict[str, Any]]) -> None:
        """Count records delivered for the first time (the poller's on_receive hook)."""
        first = sum(1 for r in records if r.get("attributes", {}).get("ApproximateReceiveCount") == "1")
        with self._lock:
            self.counters[shard].first_received += first

    def start(self) -> None:
        for shard in range(len(self.queue_urls)):
            thread = threading.Thread(target=self._run, args=(shard,), daemon=True, name=f"feeder-{shard}")
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for every shard's sender to finish; True if they all did."""
        end = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(None if end is None else max(0.0, end - time.monotonic()))
        return self.done

    def _run(self, shard: int) -> None:
        sqs = self.sqs_client()
        url = self.queue_urls[shard]
        counter = self.counters[shard]
        for call in self._plan[shard]:
            while (
                self.high_water is not None and counter.backlog >= self.high_water and not self._stop.is_set()
            ):
                time.sleep(0.01)
            if self._stop.is_set():
                return
            self._send(sqs, url, call, counter)

    def _send(self, sqs: Any, url: str, call: list[WorkItem], counter: ShardCounters) -> None:
        entries = [{"Id": str(index), "MessageBody": item.body} for index, item in enumerate(call)]
        try:
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except Exception as exc:  # counted as not sent; the summary shows it
            with self._lock:
                self.send_errors.append(f"{type(exc).__name__}: {exc}")
            return
        sent_at = time.time()
        accepted = 0
        for ok in response.get("Successful") or []:
            item = call[int(ok["Id"])]
            item.message_id = ok["MessageId"]
            item.sent_at = sent_at
            accepted += 1
        with self._lock:
            counter.sent += accepted
            for failed in response.get("Failed") or []:
                self.send_errors.append(f"{failed.get('Code')}: {failed.get('Message')}")
