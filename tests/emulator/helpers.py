"""Small factories and shape checks shared by the emulator tests."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

TOKEN = "pat-na1-emulator-test"
V4 = "/communication-preferences/v4"
V2026 = "/communication-preferences/2026-03"
WRITE = f"{V4}/statuses/batch/write"
READ = f"{V4}/statuses/batch/read"
UNSUBSCRIBE_ALL = f"{V4}/statuses/batch/unsubscribe-all"
UNSUBSCRIBE_ALL_READ = f"{V4}/statuses/batch/unsubscribe-all/read"
DEFINITIONS = f"{V4}/definitions"
TOKEN_URL = "/oauth/v1/token"
EMAIL_ONLY = {"channel": "EMAIL"}
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
REASONS = {
    "NO_STATUS_CHANGE",
    "REQUESTED_CHANGE_OCCURRED",
    "RESUBSCRIBE_OCCURRED",
    "UNSUBSCRIBE_FROM_ALL_OCCURRED",
}
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
)
DAILY_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")


def item(
    email: str = "ada@example.com", subscription_id: Any = 1001, state: str = "SUBSCRIBED", **extra: Any
) -> dict[str, Any]:
    """One `PublicStatusRequest`; keyword arguments add or override fields."""
    body = {
        "subscriberIdString": email,
        "subscriptionId": subscription_id,
        "channel": "EMAIL",
        "statusState": state,
    }
    body.update(extra)
    return body


def write(client: httpx.Client, *items: dict[str, Any], path: str = WRITE) -> httpx.Response:
    """POST a batch/write with these inputs."""
    return client.post(path, json={"inputs": list(items)})


def contact_path(email: str, suffix: str = "") -> str:
    """`/statuses/{subscriberIdString}[suffix]`."""
    return f"{V4}/statuses/{email}{suffix}"


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    """The response is a whole-request `Error` with this status and category; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str)
    assert body["message"]
    assert uuid.UUID(body["correlationId"]).version == 4
    assert response.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]
    return body


def assert_validation_error(response: httpx.Response, code: str, where: str | None = None) -> dict[str, Any]:
    """A 400 VALIDATION_ERROR whose first ErrorDetail has this code (and `in`, when given)."""
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == code, body
    if where is not None:
        assert body["errors"][0]["in"] == where, body
    return body


def assert_public_status(status: dict[str, Any], *, with_reason: bool) -> None:
    """Field names and types of a `PublicStatus`."""
    assert isinstance(status["subscriberIdString"], str)
    assert isinstance(status["subscriptionId"], int)
    assert not isinstance(status["subscriptionId"], bool)
    assert status["channel"] == "EMAIL"
    assert status["status"] in {"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"}
    assert isinstance(status["source"], str)
    assert status["source"]
    assert ISO_MS.match(status["timestamp"])
    assert isinstance(status["businessUnitId"], int)
    assert isinstance(status["subscriptionName"], str)
    if with_reason:
        assert status["setStatusSuccessReason"] in REASONS
    else:
        assert "setStatusSuccessReason" not in status


def assert_envelope(body: dict[str, Any], status: str = "COMPLETE") -> None:
    """The batch/action response envelope: status, results and ISO-8601 ms timestamps."""
    assert body["status"] == status
    assert isinstance(body["results"], list)
    for name in ("requestedAt", "startedAt", "completedAt"):
        assert ISO_MS.match(body[name]), (name, body[name])
    assert body["requestedAt"] <= body["startedAt"] <= body["completedAt"]


def assert_standard_error(error: dict[str, Any]) -> None:
    """Field names and types of a per-item `StandardError`."""
    assert error["status"] == "error"
    assert isinstance(error["category"], str)
    assert error["category"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["context"], dict)
    assert all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in error["context"].values())
    assert error["errors"] == []
    assert error["links"] == {}
