"""Emulator settings: subscription definitions and the portal's behaviour knobs, loadable from JSON.

Both dataclasses are frozen so a request can read one consistent snapshot without a lock; `configure()`
swaps in a new instance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

OAuthStyle = Literal["snake", "camel"]
# The API versions the emulator knows: `v4` and the date-based versions HubSpot publishes each March and
# September. `2026-03` is the v4 contract under another path segment.
API_VERSIONS: tuple[str, ...] = ("v4", "2026-03", "2026-09")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription type (a `SubscriptionDefinition`); it belongs to exactly one brand."""

    id: int
    name: str
    business_unit_id: int = 0
    description: str = ""
    is_active: bool = True
    is_default: bool = False
    is_internal: bool = False
    purpose: str = "Marketing"
    communication_method: str = "Email"

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id <= 0:
            raise ValueError(f"subscription id must be a positive integer, got {self.id!r}")
        if isinstance(self.business_unit_id, bool) or not isinstance(self.business_unit_id, int):
            raise ValueError(f"business_unit_id must be an integer, got {self.business_unit_id!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("subscription name must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with the dataclass's field names."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subscription:
        """Build from `to_dict()` output; unknown keys are an error so typos fail loudly."""
        reject_unknown_fields(cls, data)
        return cls(**dict(data))


DEFAULT_SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(1001, "Newsletter", 0, "Monthly newsletter", is_default=True),
    Subscription(1002, "Product updates", 0, "Release notes and product news"),
    Subscription(1003, "Events", 0, "Webinars and event invitations"),
    Subscription(2001, "Brand news", 1, "News from the second brand"),
)


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated portal behaves. Every field can be changed at run time with `configure()`.

    `error_context_keys` names the `context` keys of a per-item error: the first carries the failing
    email, the optional second the subscription id (the same name twice puts both values in one list).

    `retired_versions` are answered as HubSpot answers an unknown path (404). `documented_2026_09`
    makes `2026-09` answer as its published description says: a partial failure is a 200 with
    `errors[]` on every route (never a 207), whatever `partial_status_code` says.
    """

    batch_limit: int = 100
    rate_limit_max: int = 190
    rate_limit_interval_ms: int = 10_000
    daily_limit: int = 1_000_000
    strict: bool = True
    gdpr_enabled: bool = False
    partial_status_code: int = 207
    retry_after_seconds: int | None = None
    error_context_keys: tuple[str, ...] = ("ids", "subscriptionId")
    subscriptions: tuple[Subscription, ...] = DEFAULT_SUBSCRIPTIONS
    max_body_bytes: int = 2 * 1024 * 1024
    oauth_response_style: OAuthStyle = "snake"
    portal_id: int = 12_345_678
    status_source: str = "Public API"
    request_log_limit: int = 1_000
    idle_timeout_s: float = 300.0
    retired_versions: tuple[str, ...] = ()
    documented_2026_09: bool = True

    def __post_init__(self) -> None:
        _positive_int(self, "batch_limit", "rate_limit_max", "rate_limit_interval_ms", "max_body_bytes")
        _positive_int(self, "request_log_limit", "portal_id")
        if (
            isinstance(self.daily_limit, bool)
            or not isinstance(self.daily_limit, int)
            or self.daily_limit < 0
        ):
            raise ValueError("daily_limit must be an integer >= 0")
        if self.partial_status_code not in (200, 207):
            raise ValueError("partial_status_code must be 200 or 207")
        if self.retry_after_seconds is not None and (
            isinstance(self.retry_after_seconds, bool)
            or not isinstance(self.retry_after_seconds, int)
            or self.retry_after_seconds < 0
        ):
            raise ValueError("retry_after_seconds must be None or an integer >= 0")
        keys = self.error_context_keys
        if not 1 <= len(keys) <= 2 or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("error_context_keys must hold one or two non-empty strings")
        if self.oauth_response_style not in ("snake", "camel"):
            raise ValueError("oauth_response_style must be 'snake' or 'camel'")
        ids = [s.id for s in self.subscriptions]
        if len(ids) != len(set(ids)):
            raise ValueError("subscription ids must be unique")
        if self.idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s must be > 0")
        unknown = [v for v in self.retired_versions if v not in API_VERSIONS]
        if unknown:
            raise ValueError(f"retired_versions: unknown version(s) {unknown}; known: {list(API_VERSIONS)}")

    @property
    def served_versions(self) -> tuple[str, ...]:
        """The versions answered (every known one not retired)."""
        return tuple(v for v in API_VERSIONS if v not in self.retired_versions)

    def partial_status(self, version: str) -> int:
        """The HTTP status of an answer with per-item errors, in `version`."""
        if version == "2026-09" and self.documented_2026_09:
            return 200
        return self.partial_status_code

    @cached_property
    def definitions(self) -> dict[int, Subscription]:
        """Subscriptions by id (computed once per config instance)."""
        return {s.id: s for s in self.subscriptions}

    @cached_property
    def brands(self) -> frozenset[int]:
        """Every brand (business unit) that owns at least one subscription, plus the default brand 0."""
        return frozenset({0, *(s.business_unit_id for s in self.subscriptions)})

    def replace(self, **changes: Any) -> EmulatorConfig:
        """A copy with `changes` applied (JSON-style values such as lists are accepted)."""
        merged = self.to_dict()
        unknown = set(changes) - set(merged)
        if unknown:
            raise ValueError(f"unknown EmulatorConfig field(s): {sorted(unknown)}")
        merged.update(changes)
        return EmulatorConfig.from_dict(merged)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with the dataclass's field names."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["error_context_keys"] = list(self.error_context_keys)
        out["retired_versions"] = list(self.retired_versions)
        out["subscriptions"] = [s.to_dict() for s in self.subscriptions]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        """Build from a (possibly partial) JSON dict; unknown keys are an error."""
        reject_unknown_fields(cls, data)
        values = dict(data)
        if "error_context_keys" in values:
            values["error_context_keys"] = tuple(values["error_context_keys"])
        if "retired_versions" in values:
            values["retired_versions"] = tuple(values["retired_versions"])
        if "subscriptions" in values:
            values["subscriptions"] = tuple(
                s if isinstance(s, Subscription) else Subscription.from_dict(s)
                for s in values["subscriptions"]
            )
        return cls(**values)


def reject_unknown_fields(cls: type, data: Mapping[str, Any]) -> None:
    """Raise ValueError when `data` is not a mapping or names a field `cls` does not have."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__} must be a JSON object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {sorted(unknown)}")


def _positive_int(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
