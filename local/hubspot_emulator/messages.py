"""The plain data passed between the HTTP layer, the pipeline and the route handlers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.faults import FaultDecision
from local.hubspot_emulator.store import PreferenceStore


@dataclass(slots=True)
class Request:
    """One HTTP request as the server read it. `body_too_large` means the body was not kept."""

    method: str
    path: str
    query: str = ""
    authorization: str | None = None
    content_type: str | None = None
    body: bytes = b""
    body_too_large: bool = False


@dataclass(slots=True)
class Outcome:
    """What the server must do: `respond`, or lose the response (`drop`, `reset`, `hang`).

    `delay_s` is injected latency to wait before acting; `close` ends the keep-alive connection.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    action: str = "respond"
    delay_s: float = 0.0
    hang_s: float = 0.0
    close: bool = False


@dataclass(slots=True)
class Call:
    """A routed, authenticated API call as a handler sees it. Handlers take `lock` to touch `store`."""

    config: EmulatorConfig
    store: PreferenceStore
    lock: threading.Lock
    query: dict[str, list[str]]
    body: Any
    subscriber: str | None
    decision: FaultDecision
    requested_at: float
    version: str = "v4"
    applied: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Reply:
    """A handler's answer: HTTP status and JSON body."""

    status: int
    body: Any
