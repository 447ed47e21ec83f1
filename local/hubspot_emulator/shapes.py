"""HubSpot wire shapes shared by every route: timestamps, the `Error` and `StandardError` bodies, the
429 body, and `ApiError`, the exception a handler raises to answer with a whole-request error."""

from __future__ import annotations

import time
from typing import Any

KNOWLEDGE_BASE = {"knowledge-base": "https://www.hubspot.com/products/service/knowledge-base"}
SCOPES_LINK = {"scopes": "https://developers.hubspot.com/scopes"}


def iso_ms(t: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, e.g. `2026-01-05T10:00:00.120Z`."""
    if t is None:
        t = time.time()
    ms = int(t * 1000) % 1000
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t))}.{ms:03d}Z"


def error_body(
    category: str,
    message: str,
    correlation_id: str,
    *,
    context: dict[str, list[str]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    links: dict[str, str] | None = None,
    sub_category: str | None = None,
) -> dict[str, Any]:
    """The whole-request `Error` shape (docs/emulator.md: Routes) with the `status: "error"` real responses carry."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id,
        "category": category,
    }
    if sub_category is not None:
        body["subCategory"] = sub_category
    if context is not None:
        body["context"] = context
    if errors is not None:
        body["errors"] = errors
    if links is not None:
        body["links"] = links
    return body


def standard_error(category: str, message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    """A per-item `StandardError` (docs/emulator.md: Routes) for `errors[]` of a batch response."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def rate_limit_body(policy: str, correlation_id: str, portal_id: int) -> dict[str, Any]:
    """The 429 body (docs/emulator.md: Rate limits) for `TEN_SECONDLY_ROLLING` or `DAILY`."""
    if policy == "DAILY":
        return {
            "status": "error",
            "message": "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id,
            "policyName": "DAILY",
            "requestId": correlation_id,
        }
    return {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": f"publicapi:private-app-api-calls-ten-secondly:{portal_id}",
    }


class ApiError(Exception):
    """A whole-request error answer; the pipeline adds the correlation id and serialises it."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        code: str | None = None,
        where: str | None = None,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        links: dict[str, str] | None = None,
        sub_category: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context
        self.links = links
        self.sub_category = sub_category
        if errors is None and (code is not None or where is not None):
            detail: dict[str, Any] = {"message": message}
            if code is not None:
                detail["code"] = code
            if where is not None:
                detail["in"] = where
            errors = [detail]
        self.errors = errors

    def body(self, correlation_id: str) -> dict[str, Any]:
        """The `Error` body for this exception."""
        return error_body(
            self.category,
            self.message,
            correlation_id,
            context=self.context,
            errors=self.errors,
            links=self.links,
            sub_category=self.sub_category,
        )


def validation_error(message: str, *, code: str, where: str | None = None) -> ApiError:
    """A 400 `VALIDATION_ERROR` with one `ErrorDetail` naming the failing field."""
    return ApiError(400, "VALIDATION_ERROR", message, code=code, where=where, links=KNOWLEDGE_BASE)
