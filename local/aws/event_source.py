"""A local SQS event source mapping: polls a queue and invokes a function the way Lambda's poller does.

Rules it follows (each has a test in tests/local/; the event and the answer are local.aws.sqs_event):
- Long-polls up to BatchSize messages (ReceiveMessage returns at most 10 at a time) and stops gathering
  when the batch is full, the batching window since the first record has passed, or the next record
  would push the invocation payload past 6 MB. FIFO queues: BatchSize <= 10 and no window.
- Builds the exact Lambda SQS event: every record field, the system attributes (including
  ApproximateReceiveCount, SentTimestamp, MessageGroupId/SequenceNumber on FIFO) and messageAttributes
  in Lambda's shape (stringValue/binaryValue base64/stringListValues/binaryListValues/dataType).
- Invokes the function synchronously with a LambdaContext counting down from the function timeout,
  then applies the answer as the ReportBatchItemFailures contract says: deletes the records not listed,
  leaves listed ones to their visibility timeout, and deletes nothing (the whole batch is retried) when
  the function raises, times out, crashes or answers something malformed.
- Runs up to MaximumConcurrency invocations at once, each slot in its own execution environment
  (a long-lived worker process, see local.aws.runtime).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.aws.runtime import ExecutionEnvironment, FunctionSpec, InvokeResult
from local.aws.sqs_event import (
    EVENT_OVERHEAD_BYTES,
    BatchVerdict,
    interpret_response,
    lambda_record,
    record_size,
    sqs_event,
)

LOG = logging.getLogger("local.aws.event_source")
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit
SQS_RECEIVE_MAX = 10


# --------------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSourceMapping:
    """The ESM settings (from the template) plus the queue it reads."""

    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    maximum_concurrency: int = 2
    region: str = "us-east-1"
    poll_wait_s: int = 20  # Lambda long-polls 20 s; a local run may wait less to stop sooner
    max_payload_bytes: int = MAX_PAYLOAD_BYTES

    def __post_init__(self) -> None:
        fifo = self.queue_arn.endswith(".fifo")
        if self.batch_size < 1 or self.batch_size > (10 if fifo else 10_000):
            raise ValueError(f"BatchSize {self.batch_size} is out of range for this queue")
        if fifo and self.batching_window_s:
            raise ValueError("MaximumBatchingWindowInSeconds is not supported for FIFO queues")
        if self.batch_size > SQS_RECEIVE_MAX and self.batching_window_s < 1:
            raise ValueError("BatchSize > 10 needs MaximumBatchingWindowInSeconds >= 1")
        if not 0 <= self.batching_window_s <= 300:
            raise ValueError("MaximumBatchingWindowInSeconds must be within 0..300")
        if self.maximum_concurrency < 1:
            raise ValueError("MaximumConcurrency must be at least 1")
        if not 0 <= self.poll_wait_s <= 20:
            raise ValueError("poll_wait_s must be within 0..20 (SQS WaitTimeSeconds)")


@dataclass
class InvocationRecord:
    """What happened to one batch: the records, the result, and what the event source did with it."""

    slot: int
    request_id: str
    queue_url: str
    message_ids: list[str]
    receive_counts: dict[str, int]
    verdict: BatchVerdict
    result: InvokeResult
    started: float  # time.time() when the invocation began
    ended: float
    deleted_ids: list[str] = field(default_factory=list)
    delete_errors: list[dict[str, Any]] = field(default_factory=list)


SqsClientFactory = Callable[[], Any]


def default_sqs_client(region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 SQS client (endpoint from AWS_ENDPOINT_URL[_SQS] unless given) with modest retries."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 4, "mode": "standard"}, read_timeout=70, max_pool_connections=4)
    return boto3.client("sqs", region_name=region, endpoint_url=endpoint_url, config=config)


class SqsEventSource:
    """Polls one queue with MaximumConcurrency slots; each slot owns one execution environment.

    Hooks: ``on_receive(slot, records)`` after every ReceiveMessage that returned records, and
    ``on_invocation(record)`` after each batch is settled. Both run on the slot's thread.
    """

    def __init__(
        self,
        mapping: EventSourceMapping,
        function: FunctionSpec,
        *,
        sqs_client: SqsClientFactory | None = None,
        log_dir: Path | None = None,
        on_receive: Callable[[int, list[dict[str, Any]]], None] | None = None,
        on_invocation: Callable[[InvocationRecord], None] | None = None,
        name: str = "esm",
        environments: Sequence[ExecutionEnvironment] | None = None,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.name = name
        self._client_factory = sqs_client or (lambda: default_sqs_client(mapping.region))
        self._on_receive = on_receive
        self._on_invocation = on_invocation
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.invocations: list[InvocationRecord] = []
        self.poll_errors: list[str] = []
        self.busy_slots = 0
        if environments is not None:
            self.environments = list(environments)
        else:
            self.environments = [
                ExecutionEnvironment(
                    function,
                    name=f"{name}-slot{slot}",
                    log_file=(log_dir / f"{name}-slot{slot}.log") if log_dir else None,
                )
                for slot in range(mapping.maximum_concurrency)
            ]
        if len(self.environments) != mapping.maximum_concurrency:
            raise ValueError("one execution environment per concurrency slot is required")

    # -- lifecycle ----------------------------------------------------------------------------------

    def start_environments(self) -> None:
        """Start every slot's worker (Init runs concurrently); raises InitError if one fails."""
        errors: list[BaseException] = []

        def start(environment: ExecutionEnvironment) -> None:
            try:
                environment.start()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(env,), daemon=True) for env in self.environments]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def start(self) -> None:
        """Start the environments, then one polling thread per slot."""
        self.start_environments()
        self._stopping.clear()
        for slot in range(self.mapping.maximum_concurrency):
            thread = threading.Thread(
                target=self._run_slot, args=(slot,), daemon=True, name=f"{self.name}-{slot}"
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop polling, let in-flight invocations settle (bounded by the function timeout), stop workers."""
        self._stopping.set()
        limit = timeout_s if timeout_s is not None else self.function.timeout_s + self.mapping.poll_wait_s + 5
        end = time.monotonic() + limit
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        for environment in self.environments:
            environment.close()
        self._threads.clear()

    def abort(self) -> None:
        """Stop at once (Ctrl-C): kill the workers; unsettled batches return after their visibility timeout."""
        self._stopping.set()
        for environment in self.environments:
            environment.kill()
        for thread in self._threads:
            thread.join(2.0)
        for environment in self.environments:
            environment.close()
        self._threads.clear()

    def __enter__(self) -> SqsEventSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.stop()
        else:
            self.abort()

    # -- polling ------------------------------------------------------------------------------------

    def _receive(self, sqs: Any, count: int, wait_s: int) -> list[dict[str, Any]]:
        response = sqs.receive_message(
            QueueUrl=self.mapping.queue_url,
            MaxNumberOfMessages=max(1, min(SQS_RECEIVE_MAX, count)),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages") or []
        return messages

    def gather(
        self, sqs: Any, slot: int, carry: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Collect one batch: (records to invoke with, records held over for the next batch).

        Stops when the batch is full, the next record would not fit the payload limit, or the batching
        window since the first record has passed."""
        batch: list[dict[str, Any]] = []
        size = EVENT_OVERHEAD_BYTES
        pending = list(carry)
        window_end: float | None = time.monotonic() + self.mapping.batching_window_s if pending else None
        while not self._stopping.is_set():
            more, size = self._fill(batch, pending, size)
            if not more or self._window_closed(window_end):
                return batch, pending
            wait_s = self._wait_s(window_end)
            messages = self._receive(sqs, self.mapping.batch_size - len(batch), wait_s)
            if not messages:
                if wait_s == 0:  # a short poll came back empty: do not spin on the queue
                    self._stopping.wait(0.05 if window_end is None else min(0.05, self._left(window_end)))
                continue
            pending.extend(self._records(sqs, slot, messages, [*batch, *pending]))
            if window_end is None:
                window_end = time.monotonic() + self.mapping.batching_window_s
        return batch, pending

    def _fill(
        self, batch: list[dict[str, Any]], pending: list[dict[str, Any]], size: int
    ) -> tuple[bool, int]:
        """Move pending records into the batch (of `size` payload bytes) while they fit: (whether more
        may be gathered, the new size). Done when the batch is at BatchSize or a record is held over
        (it would not fit the payload, or the batch is full)."""
        while pending and len(batch) < self.mapping.batch_size:
            record_bytes = record_size(pending[0])
            if batch and size + record_bytes > self.mapping.max_payload_bytes:
                return False, size
            size += record_bytes
            batch.append(pending.pop(0))
        return not (len(batch) >= self.mapping.batch_size or pending), size

    def _window_closed(self, window_end: float | None) -> bool:
        """The batching window (opened by the first record) has passed; no window means none yet."""
        if window_end is None:
            return False
        return self.mapping.batching_window_s == 0 or time.monotonic() >= window_end

    def _wait_s(self, window_end: float | None) -> int:
        """The long poll's WaitTimeSeconds: the poll wait, or what is left of an open window."""
        if window_end is None:
            return self.mapping.poll_wait_s
        return min(self.mapping.poll_wait_s, math.floor(self._left(window_end)))

    @staticmethod
    def _left(window_end: float) -> float:
        return max(0.0, window_end - time.monotonic())

    def _records(
        self, sqs: Any, slot: int, messages: list[dict[str, Any]], held: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The received messages as Lambda records (after the on_receive hook). If that fails, nothing
        received is stranded: the held records and the messages are made visible again first."""
        try:
            records = [lambda_record(m, self.mapping.queue_arn, self.mapping.region) for m in messages]
            if self._on_receive is not None:
                self._on_receive(slot, records)
        except Exception:
            self._release(sqs, [*held, *({"receiptHandle": m["ReceiptHandle"]} for m in messages)])
            raise
        return records

    def _run_slot(self, slot: int) -> None:
        sqs = self._client_factory()
        environment = self.environments[slot]
        carry: list[dict[str, Any]] = []
        while not self._stopping.is_set():
            try:
                batch, carry = self.gather(sqs, slot, carry)
                if batch and not self._stopping.is_set():
                    self.invoke_batch(sqs, slot, environment, batch)
                elif batch:
                    self._release(sqs, batch)
            except Exception as exc:  # keep polling, as Lambda does, but say what went wrong
                LOG.warning("%s slot %d: %s", self.name, slot, exc)
                with self._lock:
                    self.poll_errors.append(f"{type(exc).__name__}: {exc}")
                self._stopping.wait(1.0)
        if carry:
            self._release(sqs, carry)

    def invoke_batch(
        self, sqs: Any, slot: int, environment: ExecutionEnvironment, batch: list[dict[str, Any]]
    ) -> InvocationRecord:
        """Invoke the function with one batch and settle it (delete what succeeded)."""
        request_id = str(uuid.uuid4())
        ids = [record["messageId"] for record in batch]
        with self._lock:
            self.busy_slots += 1
        started = time.time()
        try:
            result = environment.invoke(sqs_event(batch), request_id=request_id)
        finally:
            with self._lock:
                self.busy_slots -= 1
        verdict = interpret_response(result, ids)
        record = InvocationRecord(
            slot=slot,
            request_id=request_id,
            queue_url=self.mapping.queue_url,
            message_ids=ids,
            receive_counts={
                r["messageId"]: int(r["attributes"].get("ApproximateReceiveCount", 0)) for r in batch
            },
            verdict=verdict,
            result=result,
            started=started,
            ended=time.time(),
        )
        handles = {r["messageId"]: r["receiptHandle"] for r in batch}
        to_delete = [mid for mid in ids if mid in verdict.delete_ids]
        record.deleted_ids, record.delete_errors = self._delete(
            sqs, [(mid, handles[mid]) for mid in to_delete]
        )
        with self._lock:
            self.invocations.append(record)
        if self._on_invocation is not None:
            self._on_invocation(record)
        return record

    def _delete(self, sqs: Any, entries: list[tuple[str, str]]) -> tuple[list[str], list[dict[str, Any]]]:
        deleted: list[str] = []
        errors: list[dict[str, Any]] = []
        for start in range(0, len(entries), SQS_RECEIVE_MAX):
            chunk = entries[start : start + SQS_RECEIVE_MAX]
            response = sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, (_, handle) in enumerate(chunk)],
            )
            for ok in response.get("Successful") or []:
                deleted.append(chunk[int(ok["Id"])][0])
            for failed in response.get("Failed") or []:
                errors.append({"messageId": chunk[int(failed["Id"])][0], **failed})
        return deleted, errors

    def _release(self, sqs: Any, records: list[dict[str, Any]]) -> None:
        """Make records gathered but never invoked visible again (the mapping is stopping)."""
        for start in range(0, len(records), SQS_RECEIVE_MAX):
            chunk = records[start : start + SQS_RECEIVE_MAX]
            with contextlib.suppress(Exception):
                sqs.change_message_visibility_batch(
                    QueueUrl=self.mapping.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                        for i, r in enumerate(chunk)
                    ],
                )
