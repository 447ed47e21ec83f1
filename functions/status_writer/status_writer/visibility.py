"""Give retryable messages their own backoff instead of the queue's long visibility timeout."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from status_writer.deadline import Deadline
from status_writer.model import Message
from status_writer.observability import logger
from status_writer.within import run_within


def queue_url_from_arn(arn: str) -> str | None:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> the queue URL SQS expects as a parameter."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return None
    _, partition, _, region, account, name = parts
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


class VisibilityScheduler:
    """Sets each retryable message's visibility timeout; best effort, it never raises."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def postpone(self, delays: Sequence[tuple[Message, int]], *, deadline: Deadline | None = None) -> int:
        """ChangeMessageVisibility for each (message, seconds); returns how many SQS accepted. With
        ``deadline`` the batches go out in parallel and are given up when the time is over (those
        messages keep the queue's own visibility timeout)."""
        by_queue: dict[str, list[tuple[Message, int]]] = {}
        for message, seconds in delays:
            url = queue_url_from_arn(message.source_arn)
            if url and message.receipt_handle:
                by_queue.setdefault(url, []).append((message, seconds))
        batches = [
            (url, items[start : start + 10])
            for url, items in by_queue.items()
            for start in range(0, len(items), 10)
        ]
        limit_s = None if deadline is None else deadline.settle_time_s()
        done = run_within([functools.partial(self._change, url, batch) for url, batch in batches], limit_s)
        return sum(count or 0 for count in done)

    def _change(self, url: str, batch: list[tuple[Message, int]]) -> int:
        entries = [
            {"Id": f"v{index}", "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": seconds}
            for index, (message, seconds) in enumerate(batch)
        ]
        try:
            answer = self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except Exception as error:  # the queue's own visibility timeout still applies
            response = getattr(error, "response", None)  # ReadTimeoutError has none
            code = (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None
            logger.warning(
                "visibility change failed", extra={"error": code or type(error).__name__, "count": len(batch)}
            )
            return 0
        for item in answer.get("Failed", []):
            logger.warning(
                "visibility change refused", extra={"code": item.get("Code"), "entry": item.get("Id")}
            )
        return len(answer.get("Successful", []))
