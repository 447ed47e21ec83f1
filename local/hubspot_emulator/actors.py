"""HubSpot-side writers: changes made in HubSpot itself, not through the API (docs/emulator.md, Control
API). A contact on the preferences page, a marketer in the UI or a workflow sets one subscription's
status, or opts the contact out of everything, at a given moment. The change goes through the same
store rules as an API write (`store.py`), stamped with its own `timestamp` and `source`; it is not rate
limited, not logged as an API request and never faulted.

HubSpot's own clock only moves forward: a change older than a timestamp HubSpot already holds for what
it touches is refused (a 400 over HTTP), so a test cannot build a history no portal could have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.shapes import iso_ms
from local.hubspot_emulator.store import SUBSCRIBED, UNSUBSCRIBED, PreferenceStore
from local.hubspot_emulator.validation import CHANNELS, is_valid_email

STATUS = "status"
UNSUBSCRIBE_ALL = "unsubscribe_all"
# The contact's own change on the subscription preferences page: the default source of both actions.
CONTACT_SOURCE = "SUBSCRIPTION_PREFERENCES_PAGE"
_COMMON_FIELDS = frozenset({"email", "channel", "action", "timestamp", "source"})
_ACTION_FIELDS = {
    STATUS: frozenset({"subscription_id", "state"}),
    UNSUBSCRIBE_ALL: frozenset({"business_unit_id"}),
}


@dataclass(frozen=True)
class ActorChange:
    """One HubSpot-side change, validated. `timestamp` is None for "now" (the emulator's clock)."""

    email: str
    action: str
    channel: str = "EMAIL"
    subscription_id: int | None = None
    state: str | None = None
    business_unit_id: int | None = None
    timestamp: str | None = None
    source: str = CONTACT_SOURCE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActorChange:
        """The control route's snake_case body; raises ValueError (a 400) for anything malformed."""
        action = data.get("action")
        if action not in _ACTION_FIELDS:
            raise ValueError(f"action must be {STATUS!r} or {UNSUBSCRIBE_ALL!r}, got {action!r:.40}")
        unknown = set(data) - _COMMON_FIELDS - _ACTION_FIELDS[action]
        if unknown:
            raise ValueError(f"unknown fields for action {action}: {sorted(unknown)}")
        email = data.get("email")
        if not isinstance(email, str) or not is_valid_email(email):
            raise ValueError(f"email must be a valid address, got {email!r:.60}")
        channel = data.get("channel", "EMAIL")
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {list(CHANNELS)}, got {channel!r:.40}")
        source = data.get("source", CONTACT_SOURCE)
        if not isinstance(source, str) or not source:
            raise ValueError("source must be a non-empty string")
        change = cls(
            email=email.lower(),
            action=action,
            channel=channel,
            subscription_id=_optional_int(data, "subscription_id"),
            state=data.get("state"),
            business_unit_id=_optional_int(data, "business_unit_id"),
            timestamp=_timestamp(data.get("timestamp")),
            source=source,
        )
        if action == STATUS:
            if change.subscription_id is None:
                raise ValueError("a status change needs subscription_id")
            if change.state not in (SUBSCRIBED, UNSUBSCRIBED):
                raise ValueError(f"state must be SUBSCRIBED or UNSUBSCRIBED, got {change.state!r:.40}")
        return change


def apply_change(store: PreferenceStore, config: EmulatorConfig, change: ActorChange) -> dict[str, Any]:
    """Make `change` in `store` (the caller holds the emulator lock) and answer what it left:
    `{"results": [PublicStatus with setStatusSuccessReason], "wide_statuses": [PublicWideStatus]}`."""
    now = change.timestamp or iso_ms()
    if change.action == STATUS:
        sub = config.definitions.get(change.subscription_id or 0)
        if sub is None or not sub.is_active:
            raise ValueError(f"subscription {change.subscription_id} does not exist or is not active")
        _refuse_going_back(store, change, now, (sub.id,), sub.business_unit_id)
        assert change.state is not None
        results = [
            store.write(
                change.email,
                sub,
                change.channel,
                change.state,
                legal_basis=None,
                legal_basis_explanation=None,
                now=now,
                source=change.source,
                brands=config.brands,
            )
        ]
    else:
        brand = change.business_unit_id
        if brand is not None and brand not in config.brands:
            raise ValueError(f"business_unit_id {brand} is no brand of this portal")
        scope = [s for s in config.subscriptions if brand is None or s.business_unit_id == brand]
        _refuse_going_back(store, change, now, tuple(s.id for s in scope), brand)
        results = store.unsubscribe_all(
            change.email, change.channel, brand, config.subscriptions, now=now, source=change.source
        )
    return {"results": results, "wide_statuses": store.wide_statuses(change.email, change.channel)}


def _refuse_going_back(
    store: PreferenceStore,
    change: ActorChange,
    now: str,
    subscription_ids: tuple[int, ...],
    brand: int | None,
) -> None:
    """HubSpot's clock only moves forward: refuse a change older than what it touches already holds
    (the statuses in its scope, and the wide opt-outs covering them; every one when `brand` is None)."""
    held = [
        s["timestamp"]
        for s in store.statuses(change.email, change.channel)
        if s["subscriptionId"] in subscription_ids
    ]
    held += [w["timestamp"] for w in store.wide_statuses(change.email, change.channel, brand)]
    newest = max(held, default=None)
    if newest is not None and _moment(now) < _moment(newest):
        raise ValueError(f"timestamp {now} is older than {newest}, which HubSpot already holds for it")


def _optional_int(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r:.40}")
    return value


def _timestamp(value: Any) -> str | None:
    """An ISO-8601 string as the emulator writes timestamps (UTC, milliseconds, `Z`); naive is UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO-8601 string")
    moment = _moment(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _moment(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
