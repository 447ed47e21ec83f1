"""Driving a run: the pollers, the sender and the progress line together, started and stopped as one.

`make run` and `make chaos` both drive their workload through the local stack this way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.aws.event_source import SqsEventSource
from local.aws.provision import Provisioned
from local.aws.queues import queue_depth
from local.workload.feeder import Feeder
from local.workload.progress import Progress
from local.workload.tally import RunTally


@dataclass
class Pipeline:
    """The running pieces, so the final report and the cleanup can reach them."""

    sources: list[SqsEventSource] = field(default_factory=list)
    feeder: Feeder | None = None
    progress: Progress | None = None


def forward_receive(pipeline: Pipeline, shard: int, tally: RunTally | None = None) -> Any:
    """The event source's on_receive hook: the feeder's flow control, and the tally's SentTimestamps."""

    def forward(slot: int, records: list[dict[str, Any]]) -> None:
        if pipeline.feeder is not None:
            pipeline.feeder.note_received(shard, records)
        if tally is not None:
            tally.note_received(records)

    return forward


def start_sources(sources: Sequence[SqsEventSource]) -> None:
    """Init every execution environment at once (imports run in parallel), then start polling."""
    errors: list[BaseException] = []

    def init(source: SqsEventSource) -> None:
        try:
            source.start_environments()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=init, args=(source,), daemon=True) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for source in sources:
        source.start()  # environments are already warm: start() only starts the slot threads


def stop_all(pipeline: Pipeline) -> None:
    """Cleanup on any exit: progress line, sender, pollers and their worker processes."""
    if pipeline.progress:
        pipeline.progress.stop()
    if pipeline.feeder:
        pipeline.feeder.stop()
    for source in pipeline.sources:
        source.abort()


def wait_for_drain(
    sqs: Any,
    provisioned: Provisioned,
    feeder: Feeder,
    sources: Sequence[SqsEventSource],
    timeout_s: float,
    *,
    parked: Callable[[], int] = lambda: 0,
) -> bool:
    """True once everything is sent and every shard holds nothing but the `parked()` messages (parked
    until HubSpot's daily limit resets: they come back hours later, local.workload.waiting)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if feeder.done and not any(source.busy_slots for source in sources):
            if sum(queue_depth(sqs, queue.url) for queue in provisioned.queues) == parked():
                return True
            time.sleep(1.0)
        else:
            time.sleep(0.2)
    return False


def drained(sqs: Any, provisioned: Provisioned, feeder: Feeder, sources: Sequence[SqsEventSource]) -> bool:
    """Everything sent, no invocation running and every shard empty."""
    if not feeder.done or any(source.busy_slots for source in sources):
        return False
    return all(queue_depth(sqs, queue.url) == 0 for queue in provisioned.queues)
