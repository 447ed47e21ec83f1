"""The one LambdaContext: the context object Lambda's Python runtime passes to a handler.

Used by the local worker (local.aws.worker), the bench, the tests' factories and the built-artifact
runner alike, so every caller sees the same attribute names and the same countdown. It imports only the
standard library: the built-artifact runner loads it by path in an interpreter that can import nothing
but the build output.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def _now_ms() -> int:
    return int(time.time() * 1000)


class LambdaContext:
    """Lambda's context attributes, with the remaining time counting down to an absolute deadline.

    The deadline is epoch milliseconds, as the runtime API hands it to the runtime, so a parent process
    can set it for a worker: ``deadline_ms`` if given, else now + ``timeout_ms``. Unset names and the
    memory size come from the runtime's environment variables (``AWS_LAMBDA_FUNCTION_NAME``,
    ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``) as the real runtime reads them; ``memory_limit_in_mb`` is a
    string for the same reason.
    """

    def __init__(
        self,
        *,
        timeout_ms: int = 60_000,
        deadline_ms: int | None = None,
        aws_request_id: str | None = None,
        function_name: str | None = None,
        function_version: str = "$LATEST",
        memory_limit_in_mb: str | int | None = None,
        invoked_function_arn: str | None = None,
        log_group_name: str | None = None,
        log_stream_name: str = "local",
    ) -> None:
        name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "status-writer"
        memory = memory_limit_in_mb or os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "256"
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.function_name = name
        self.function_version = function_version
        self.invoked_function_arn = (
            invoked_function_arn or f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        )
        self.memory_limit_in_mb = str(memory)
        self.log_group_name = log_group_name or f"/aws/lambda/{name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms if deadline_ms is not None else _now_ms() + timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until Lambda would stop this invocation (never negative)."""
        return max(0, self._deadline_ms - _now_ms())

    def log(self, message: str) -> None:
        """Write to the function's log stream, like the runtime's context.log."""
        sys.stdout.write(message)
        sys.stdout.flush()

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r})"
