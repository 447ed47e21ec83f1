"""HubSpot's answer shapes: what a final status and body mean for one call. Pure: no I/O.

An answer is trusted only in HubSpot's documented shapes (README: Outcomes): a 200/207 must be a batch
body, a 400/413 HubSpot's error body; anything else says the outcome is unknown or HubSpot was not
reached, never that the message is bad.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from status_writer.model import Failure, FailureCategory

MAX_DETAIL = 300

# How a final HTTP status is reported; anything unlisted (404 wrong base URL, 409, 422, 5xx…) is a
# configuration or server fault, never the message's, so it is retried.
_STATUS_CATEGORIES = {
    401: FailureCategory.AUTHENTICATION,
    403: FailureCategory.MISSING_SCOPES,
}


@dataclass(frozen=True, slots=True)
class CallResult:
    """Exactly one of: ``body`` (a 200/207 answer), ``rejected`` (whole-batch 400/413), ``failure``."""

    body: Any = None
    rejected: str | None = None
    failure: Failure | None = None


def failed(failure: Failure) -> CallResult:
    return CallResult(failure=failure)


def batch_answer(status: int, body: Any) -> CallResult | None:
    """The result of a 200/207/400/413 answer, judged by its body's shape; None for other statuses."""
    if status in (200, 207):
        if is_batch_body(body):
            return CallResult(body=body)
        detail = f"HTTP {status} with a body that is not a batch response: not known to be applied"
        return failed(Failure(FailureCategory.UNKNOWN_OUTCOME, detail, permanent=False))
    if status in (400, 413):
        if is_error_body(body):
            return CallResult(rejected=error_text(status, body))
        detail = f"HTTP {status} with a body that is not HubSpot's error shape (a proxy answered?)"
        return failed(Failure(FailureCategory.HUBSPOT_UNAVAILABLE, detail, permanent=False))
    return None


def status_failure(status: int, body: Any) -> CallResult:
    """A final answer no retry is left for: 401/403 by name, anything else as HubSpot unavailable."""
    category = _STATUS_CATEGORIES.get(status, FailureCategory.HUBSPOT_UNAVAILABLE)
    return failed(Failure(category, error_text(status, body), permanent=False))


def is_batch_body(body: Any) -> bool:
    """HubSpot's batch response: an object with a string ``status`` and a ``results`` list."""
    return (
        isinstance(body, Mapping)
        and isinstance(body.get("status"), str)
        and isinstance(body.get("results"), list)
    )


def is_error_body(body: Any) -> bool:
    """HubSpot's error response: an object with a string ``message`` and a ``category`` or ``status``."""
    return (
        isinstance(body, Mapping)
        and isinstance(body.get("message"), str)
        and (isinstance(body.get("category"), str) or body.get("status") == "error")
    )


def policy_name(body: Any) -> str | None:
    """The rate-limit policy a 429 names (``TEN_SECONDLY_ROLLING``, ``DAILY``…), if it names one."""
    if isinstance(body, Mapping) and isinstance(body.get("policyName"), str):
        return str(body["policyName"])
    return None


def error_text(status: int, body: Any) -> str:
    """HTTP status, category and HubSpot's message; never the request (it carries no token anyway)."""
    if isinstance(body, Mapping):
        category = body.get("category") or body.get("errorType") or "error"
        message = body.get("message") or ""
        return f"HTTP {status} {category}: {message}"[:MAX_DETAIL]
    return f"HTTP {status} with a body that is not JSON"
