"""The emulator without sockets: configuration, credentials, faults, state, log and counters behind one
lock, plus the control-plane methods tests call in-process. `Emulator` adds the HTTP server on top.
`control` and `pipeline` see it only through the Protocols in `portal`, so they never import it."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from local.hubspot_emulator import control, pipeline
from local.hubspot_emulator.actors import ActorChange, apply_change
from local.hubspot_emulator.auth import TokenRegistry, scopes_for
from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.faults import FaultPlan, Faults
from local.hubspot_emulator.messages import Outcome, Request
from local.hubspot_emulator.ratelimit import RateLimiter
from local.hubspot_emulator.store import PreferenceStore
from local.hubspot_emulator.telemetry import Counters, RequestLog


class EmulatorCore:
    """Everything the emulator knows. Every public method is thread-safe."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        tokens: Iterable[str] = (),
        faults: Faults | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self._initial_config = config or EmulatorConfig()
        self._initial_faults = faults or Faults()
        self.config = self._initial_config
        self.registry = TokenRegistry()
        if isinstance(tokens, str):
            raise TypeError("tokens must be an iterable of token strings, not one string")
        for token in tokens:
            self.registry.add_private_app_token(token)
        self._initial_registry = self.registry.clone()
        self.plan = FaultPlan(self._initial_faults)
        self.limiter = RateLimiter()
        self.store = PreferenceStore()
        self.log = RequestLog(self.config.request_log_limit)
        self.tally = Counters()

    def handle(self, request: Request) -> Outcome:
        """Answer one request (the HTTP layer's entry point): `/_emulator/...` is control, the rest is API."""
        if request.path.startswith(control.PREFIX):
            return control.handle(self, request)
        return pipeline.process(self, request)

    def knows_token(self, token: str) -> bool:
        """True when this portal issued or registered `token` (live, expired or revoked)."""
        with self.lock:
            return self.registry.knows_token(token)

    def knows_client(self, client_id: str) -> bool:
        """True when this portal registered the OAuth app `client_id`."""
        with self.lock:
            return self.registry.knows_client(client_id)

    def add_private_app_token(
        self, token: str, scopes: Iterable[str] | None = None, *, profile: str | None = None
    ) -> None:
        """Accept `token` as a private-app token with `scopes` or a named `profile` (default: every scope)."""
        with self.lock:
            self.registry.add_private_app_token(token, _pick_scopes(scopes, profile))

    def add_service_key(
        self, token: str, scopes: Iterable[str] | None = None, *, profile: str | None = None
    ) -> None:
        """Accept `token` as a Service Key (a bearer token with a private app's limits)."""
        with self.lock:
            self.registry.add_private_app_token(token, _pick_scopes(scopes, profile), kind="service-key")

    def set_batch_scopes(self, token: str, granted: bool) -> bool:
        """Take away (`granted=False`) or give back a token's batch scopes at run time; False if unknown."""
        with self.lock:
            return self.registry.set_batch_scopes(token, granted)

    def add_oauth_app(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scopes: Iterable[str] | None = None,
        access_token_ttl_s: float = 1800,
    ) -> None:
        """Register an OAuth app whose `refresh_token` the token endpoint will exchange."""
        with self.lock:
            self.registry.add_oauth_app(client_id, client_secret, refresh_token, scopes, access_token_ttl_s)

    def revoke_token(self, token: str) -> bool:
        """Revoke a private-app, access or refresh token; True if it was live."""
        with self.lock:
            return self.registry.revoke_token(token)

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change any `EmulatorConfig` fields at run time; returns the new config."""
        with self.lock:
            self.config = self.config.replace(**changes)
            self.log.resize(self.config.request_log_limit)
            return self.config

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault profile; its script and throttle counters start afresh."""
        if not isinstance(faults, Faults):
            raise TypeError("set_faults expects a Faults instance")
        with self.lock:
            self.plan = FaultPlan(faults)

    def faults(self) -> Faults:
        """The current fault profile."""
        return self.plan.faults

    def remaining_script(self) -> list[str]:
        """Script entries not consumed yet."""
        with self.lock:
            return self.plan.remaining_script()

    def reset(self, *, keep_tokens: bool = True) -> None:
        """State, log, counters, rate limits, config and faults back to how the emulator started.

        Credentials added since start survive unless `keep_tokens=False`, which restores the start's.
        """
        with self.lock:
            self.config = self._initial_config
            self.plan = FaultPlan(self._initial_faults)
            self.limiter = RateLimiter()
            self.store.clear()
            self.log = RequestLog(self.config.request_log_limit)
            self.tally = Counters()
            if not keep_tokens:
                self.registry = self._initial_registry.clone()

    def actor(self, change: dict[str, Any]) -> dict[str, Any]:
        """A HubSpot-side change (local.hubspot_emulator.actors): `{"email", "action": "status" or
        "unsubscribe_all", ...}` as `POST /_emulator/actor` takes it. Same store rules as an API write,
        its own `timestamp` (default now) and `source`; no rate limit, no request log, no fault. Answers
        `{"results": [PublicStatus], "wide_statuses": [PublicWideStatus]}`; ValueError when malformed."""
        parsed = ActorChange.from_dict(change)
        with self.lock:
            return apply_change(self.store, self.config, parsed)

    def status(self, email: str, subscription_id: int, channel: str = "EMAIL") -> dict[str, Any] | None:
        """The stored `PublicStatus`-like status, or None when never written."""
        with self.lock:
            return self.store.status(email.lower(), subscription_id, channel)

    def statuses(self, email: str, channel: str = "EMAIL") -> list[dict[str, Any]]:
        """Every stored status of one contact."""
        with self.lock:
            return self.store.statuses(email.lower(), channel)

    def wide_statuses(self, email: str, channel: str = "EMAIL") -> list[dict[str, Any]]:
        """The contact's `PublicWideStatus` opt-outs (portal-wide first)."""
        with self.lock:
            return self.store.wide_statuses(email.lower(), channel)

    def snapshot(self) -> dict[str, Any]:
        """Every status and wide status: `{"statuses": [...], "wideStatuses": [...]}`."""
        with self.lock:
            return self.store.snapshot()

    def request_log(self) -> list[dict[str, Any]]:
        """API requests seen, oldest first (never the token, only `token_fingerprint`)."""
        with self.lock:
            return self.log.entries()

    def counters(self) -> dict[str, Any]:
        """`total`, `by_route`, `by_status`, `rate_limited` (per policy), `faults` (per type),
        `daily_used` (today's portal-wide count)."""
        with self.lock:
            out = self.tally.as_dict()
            out["daily_used"] = self.limiter.daily_used()
            return out


def _pick_scopes(scopes: Iterable[str] | None, profile: str | None) -> Iterable[str] | None:
    if profile is None:
        return scopes
    if scopes is not None:
        raise ValueError("give scopes or a profile, not both")
    return scopes_for(profile)
