"""What the hostile server can answer, as values: status, headers, body and how the body is delivered.

No I/O here. ``fault_answer(kind)`` names each hostile shape; ``batch_answer`` is a well-formed HubSpot
batch answer for a request, the control case the faults are measured against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

HTML_PAGE = b"<html><head><title>403 Forbidden</title></head><body><h1>Request blocked</h1></body></html>"

# Every fault kind the server knows, for tests that sweep them and for chaos profiles.
FAULT_KINDS: tuple[str, ...] = (
    "trickle",  # a valid answer, one byte every half second
    "reset",  # headers and half the body, then the connection is reset
    "html_400",  # a proxy's or WAF's HTML page with status 400
    "html_413",  # the same, status 413
    "html_200",  # HTML with status 200
    "empty_200",  # status 200, no body
    "null_200",  # status 200, body `null`
    "list_207",  # status 207, a JSON list
    "truncated_200",  # status 200, a valid answer cut in half (Content-Length says so)
    "no_status_200",  # status 200, an object without `status`/`results`
    "huge_200",  # status 200, a body past any sane size (streamed, never held in memory)
    "redirect",  # 307 to another host
    "wrong_content_type",  # a valid answer labelled text/plain
    "hang",  # headers never come
)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer. ``body`` is sent ``repeat`` times (a huge body is a small one repeated); with
    ``trickle_s`` the body goes out ``trickle_bytes`` at a time with that pause between pieces;
    ``reset_after`` resets the connection after that many body bytes; ``content_length`` overrides the
    declared length (a truncated answer declares more than it sends); ``hang_s`` waits before anything."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    repeat: int = 1
    trickle_s: float = 0.0
    trickle_bytes: int = 1
    reset_after: int | None = None
    content_length: int | None = None
    hang_s: float = 0.0

    @property
    def length(self) -> int:
        return len(self.body) * self.repeat


def batch_answer(request: Any, status: int = 200) -> dict[str, Any]:
    """A COMPLETE batch answer that applies every input of a batch/write or unsubscribe-all request."""
    inputs = request.get("inputs", []) if isinstance(request, dict) else []
    results: list[dict[str, Any]] = []
    for item in inputs:
        if isinstance(item, dict):
            results.append(
                {
                    "subscriberIdString": item.get("subscriberIdString"),
                    "subscriptionId": item.get("subscriptionId"),
                    "status": item.get("statusState"),
                    "channel": item.get("channel", "EMAIL"),
                    "source": "PUBLIC_STATUS_API",
                    "timestamp": "2026-01-05T10:00:00.000Z",
                }
            )
        elif isinstance(item, str):
            results.append(
                {"subscriberIdString": item, "wideStatusType": "PORTAL_WIDE", "status": "UNSUBSCRIBED"}
            )
    return {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2026-01-05T10:00:00.000Z",
        "completedAt": "2026-01-05T10:00:00.050Z",
        **({"numErrors": 0} if status == 207 else {}),
    }


def fault_answer(kind: str, request: Any = None, *, huge_bytes: int = 64 * 1024 * 1024) -> Answer:
    """The answer of one fault kind to ``request`` (the parsed JSON the function sent)."""
    valid = json.dumps(batch_answer(request)).encode()
    answers = {
        "trickle": Answer(body=valid, trickle_s=0.5),
        "reset": Answer(body=valid, reset_after=max(1, len(valid) // 2)),
        "html_400": Answer(400, HTML_PAGE, "text/html"),
        "html_413": Answer(413, HTML_PAGE, "text/html"),
        "html_200": Answer(200, HTML_PAGE, "text/html"),
        "empty_200": Answer(200, b""),
        "null_200": Answer(200, b"null"),
        "list_207": Answer(207, b"[]"),
        "truncated_200": Answer(200, valid[: len(valid) // 2], content_length=len(valid)),
        "no_status_200": Answer(200, b'{"message": "ok"}'),
        "huge_200": Answer(200, b" " * 65_536, repeat=max(1, huge_bytes // 65_536)),
        "redirect": Answer(307, b"", None, headers=(("Location", "http://192.0.2.1/steal"),)),
        "wrong_content_type": Answer(200, valid, "text/plain"),
        "hang": Answer(hang_s=30.0, body=valid),
    }
    if kind not in answers:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return answers[kind]
