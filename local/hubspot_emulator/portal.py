"""What the request layers need of the emulator's state, as Protocols: `pipeline` (the API) reads a
`PortalState`, `control` (`/_emulator/...`) drives a `PortalControl`. `core.EmulatorCore` is both; the
layers import only this module, so `core` can import them without an import cycle."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol

from local.hubspot_emulator.auth import TokenRegistry
from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.faults import FaultPlan, Faults
from local.hubspot_emulator.ratelimit import RateLimiter
from local.hubspot_emulator.store import PreferenceStore
from local.hubspot_emulator.telemetry import Counters, RequestLog


class PortalState(Protocol):
    """The state one API request reads and changes (under `lock`)."""

    lock: threading.Lock
    config: EmulatorConfig
    registry: TokenRegistry
    plan: FaultPlan
    limiter: RateLimiter
    store: PreferenceStore
    log: RequestLog
    tally: Counters


class PortalControl(Protocol):
    """The control-plane methods (thread-safe)."""

    @property
    def config(self) -> EmulatorConfig: ...

    def reset(self, *, keep_tokens: bool = True) -> None: ...
    def configure(self, **changes: Any) -> EmulatorConfig: ...
    def faults(self) -> Faults: ...
    def set_faults(self, faults: Faults) -> None: ...
    def remaining_script(self) -> list[str]: ...
    def add_private_app_token(
        self, token: str, scopes: Iterable[str] | None = None, *, profile: str | None = None
    ) -> None: ...
    def add_service_key(
        self, token: str, scopes: Iterable[str] | None = None, *, profile: str | None = None
    ) -> None: ...
    def set_batch_scopes(self, token: str, granted: bool) -> bool: ...
    def revoke_token(self, token: str) -> bool: ...
    def add_oauth_app(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scopes: Iterable[str] | None = None,
        access_token_ttl_s: float = 1800,
    ) -> None: ...
    def actor(self, change: dict[str, Any]) -> dict[str, Any]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def status(self, email: str, subscription_id: int, channel: str = "EMAIL") -> dict[str, Any] | None: ...
    def wide_statuses(self, email: str, channel: str = "EMAIL") -> list[dict[str, Any]]: ...
    def request_log(self) -> list[dict[str, Any]]: ...
    def counters(self) -> dict[str, Any]: ...
