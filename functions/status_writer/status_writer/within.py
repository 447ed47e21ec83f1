"""Run independent calls side by side and stop waiting when their time is over.

Settling (dead-letter copies, visibility changes) is many small SQS calls after the last HubSpot
decision; one after another they ran far past the invocation's deadline. What has not finished in time
is reported as not done, so its records come back to the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

Result = TypeVar("Result")
MAX_WORKERS = 10  # botocore's connection pool holds 10 connections per client


def run_within(
    calls: Sequence[Callable[[], Result]], limit_s: float | None, workers: int = MAX_WORKERS
) -> list[Result | None]:
    """Each call's result, in order; None for a call that had not finished after ``limit_s`` (None:
    no limit) or that was never started. Calls must not raise (each catches its own failures)."""
    if not calls:
        return []
    if len(calls) == 1 and limit_s is None:
        return [calls[0]()]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(calls)), thread_name_prefix="settle")
    try:
        futures = [pool.submit(call) for call in calls]
        wait(futures, timeout=limit_s)
        return [future.result() if future.done() and not future.cancelled() else None for future in futures]
    finally:
        # Calls still running finish on their own (bounded by the client's timeouts); their results
        # are dropped. Calls not started yet never start.
        pool.shutdown(wait=False, cancel_futures=True)
