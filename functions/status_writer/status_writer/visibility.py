"""Give retryable messages their own backoff instead of the queue's long visibility timeout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from status_writer.model import Message
from status_writer.observability import logger


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

    def postpone(self, delays: Sequence[tuple[Message, int]]) -> int:
        """ChangeMessageVisibility for each (message, seconds); returns how many SQS accepted."""
        by_queue: dict[str, list[tuple[Message, int]]] = {}
        for message, seconds in delays:
            url = queue_url_from_arn(message.source_arn)
            if url and message.receipt_handle:
                by_queue.setdefault(url, []).append((message, seconds))
        changed = 0
        for url, items in by_queue.items():
            for start in range(0, len(items), 10):
                batch = items[start : start + 10]
                entries = [
                    {"Id": f"v{index}", "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": seconds}
                    for index, (message, seconds) in enumerate(batch)
                ]
                try:
                    answer = self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
                except Exception as error:  # the queue's own visibility timeout still applies
                    response = getattr(error, "response", None)  # ReadTimeoutError has none
                    code = (
                        (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None
                    )
                    code = code or type(error).__name__
                    logger.warning("visibility change failed", extra={"error": code, "count": len(batch)})
                    continue
                changed += len(answer.get("Successful", []))
                for item in answer.get("Failed", []):
                    logger.warning(
                        "visibility change refused", extra={"code": item.get("Code"), "entry": item.get("Id")}
                    )
        return changed
