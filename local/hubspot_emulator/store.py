"""The portal's subscription state: one status per (email, subscription, channel) plus wide opt-outs
(portal-wide, or one brand). Emails are keyed lowercased. Not thread-safe: callers hold the emulator lock.

Rules (the contract leaves them open, these are this emulator's choices):
- A write equal to the current effective status is `NO_STATUS_CHANGE` and changes nothing.
- `SUBSCRIBED` after `UNSUBSCRIBED` is `RESUBSCRIBE_OCCURRED`. Under a wide opt-out covering the
  subscription's brand it also lifts that opt-out for that brand only: a brand-wide opt-out is removed; a
  portal-wide one is replaced by brand-wide opt-outs for every other brand.
- Unsubscribe-all marks every subscription in scope `UNSUBSCRIBED` and records the wide opt-out.
- A subscription never written has no status and is not listed by reads (a real portal may list it as
  `NOT_SPECIFIED`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from local.hubspot_emulator.config import Subscription

SUBSCRIBED = "SUBSCRIBED"
UNSUBSCRIBED = "UNSUBSCRIBED"
NOT_SPECIFIED = "NOT_SPECIFIED"
NO_STATUS_CHANGE = "NO_STATUS_CHANGE"
REQUESTED_CHANGE_OCCURRED = "REQUESTED_CHANGE_OCCURRED"
RESUBSCRIBE_OCCURRED = "RESUBSCRIBE_OCCURRED"
UNSUBSCRIBE_FROM_ALL_OCCURRED = "UNSUBSCRIBE_FROM_ALL_OCCURRED"
PORTAL = None  # the wide-status scope key for PORTAL_WIDE


Record = dict[str, Any]
"""A stored status is kept as the `PublicStatus` dict a write returned (with its
`setStatusSuccessReason`); it is replaced, never mutated, so responses can share it."""
REASON = "setStatusSuccessReason"


def public_status(record: Record) -> dict[str, Any]:
    """A stored record as reads return it: a `PublicStatus` copy without `setStatusSuccessReason`."""
    return {k: v for k, v in record.items() if k != REASON}


def public_wide_status(email: str, channel: str, scope: int | None, timestamp: str) -> dict[str, Any]:
    """A `PublicWideStatus` dict (portal-wide when `scope` is None, else for brand `scope`)."""
    out: dict[str, Any] = {
        "subscriberIdString": email,
        "channel": channel,
        "status": UNSUBSCRIBED,
        "timestamp": timestamp,
        "wideStatusType": "PORTAL_WIDE" if scope is None else "BUSINESS_UNIT_WIDE",
    }
    if scope is not None:
        out["businessUnitId"] = scope
    return out


class PreferenceStore:
    """Statuses and wide opt-outs, indexed by (lowercased email, channel)."""

    def __init__(self) -> None:
        self._statuses: dict[tuple[str, str], dict[int, Record]] = {}
        self._wide: dict[tuple[str, str], dict[int | None, str]] = {}

    def clear(self) -> None:
        """Forget everything."""
        self._statuses.clear()
        self._wide.clear()

    def write(
        self,
        email: str,
        sub: Subscription,
        channel: str,
        state: str,
        *,
        legal_basis: str | None,
        legal_basis_explanation: str | None,
        now: str,
        source: str,
        brands: Iterable[int],
    ) -> dict[str, Any]:
        """Apply one status write and return its `PublicStatus` with `setStatusSuccessReason`.

        The returned dict is also what the store keeps, so callers must not mutate it.
        """
        key = (email, channel)
        brand = sub.business_unit_id
        contact = self._statuses.get(key)
        prior = contact.get(sub.id) if contact else None
        wide = self._wide.get(key)
        under_wide = wide is not None and (PORTAL in wide or brand in wide)
        effective = prior["status"] if prior else (UNSUBSCRIBED if under_wide else NOT_SPECIFIED)
        if state == SUBSCRIBED and under_wide:
            assert wide is not None
            self._lift_wide(key, wide, brand, brands)
            reason = RESUBSCRIBE_OCCURRED
        elif state == effective:
            if prior is None:
                return _record(
                    email,
                    sub,
                    channel,
                    state,
                    source=source,
                    now=now,
                    legal_basis=None,
                    legal_basis_explanation=None,
                    reason=NO_STATUS_CHANGE,
                )
            return {**prior, REASON: NO_STATUS_CHANGE}
        elif state == SUBSCRIBED and effective == UNSUBSCRIBED:
            reason = RESUBSCRIBE_OCCURRED
        else:
            reason = REQUESTED_CHANGE_OCCURRED
        record = _record(
            email,
            sub,
            channel,
            state,
            source=source,
            now=now,
            legal_basis=legal_basis,
            legal_basis_explanation=legal_basis_explanation,
            reason=reason,
        )
        if contact is None:
            contact = self._statuses[key] = {}
        contact[sub.id] = record
        return record

    def unsubscribe_all(
        self,
        email: str,
        channel: str,
        brand: int | None,
        subscriptions: Iterable[Subscription],
        *,
        now: str,
        source: str,
    ) -> list[dict[str, Any]]:
        """Opt the contact out portal-wide (`brand=None`) or from one brand; returns the changed statuses."""
        key = (email, channel)
        self._wide.setdefault(key, {})[brand] = now
        contact = self._statuses.setdefault(key, {})
        changed = []
        for sub in subscriptions:
            if brand is not None and sub.business_unit_id != brand:
                continue
            record = _record(
                email,
                sub,
                channel,
                UNSUBSCRIBED,
                source=source,
                now=now,
                legal_basis=None,
                legal_basis_explanation=None,
                reason=UNSUBSCRIBE_FROM_ALL_OCCURRED,
            )
            contact[sub.id] = record
            changed.append(record)
        return changed

    def statuses(self, email: str, channel: str, brand: int | None = None) -> list[dict[str, Any]]:
        """Stored statuses of a contact (all brands when `brand` is None), ordered by subscription id."""
        contact = self._statuses.get((email, channel), {})
        return [
            public_status(rec)
            for _, rec in sorted(contact.items())
            if brand is None or rec["businessUnitId"] == brand
        ]

    def status(self, email: str, subscription_id: int, channel: str) -> dict[str, Any] | None:
        """One stored status, or None."""
        record = self._statuses.get((email, channel), {}).get(subscription_id)
        return None if record is None else public_status(record)

    def wide_statuses(self, email: str, channel: str, brand: int | None = None) -> list[dict[str, Any]]:
        """Wide opt-outs of a contact, portal-wide first; `brand` keeps that brand's and the portal-wide."""
        scopes = self._wide.get((email, channel), {})
        return [
            public_wide_status(email, channel, scope, ts)
            for scope, ts in sorted(scopes.items(), key=_scope_order)
            if brand is None or scope is None or scope == brand
        ]

    def snapshot(self) -> dict[str, Any]:
        """Every status and wide status, JSON-able, in a stable order."""
        statuses = [
            public_status(rec)
            for _, contact in sorted(self._statuses.items())
            for _, rec in sorted(contact.items())
        ]
        wide = [
            public_wide_status(email, channel, scope, ts)
            for (email, channel), scopes in sorted(self._wide.items())
            for scope, ts in sorted(scopes.items(), key=_scope_order)
        ]
        return {"statuses": statuses, "wideStatuses": wide}

    def _lift_wide(
        self, key: tuple[str, str], wide: dict[int | None, str], brand: int, brands: Iterable[int]
    ) -> None:
        wide.pop(brand, None)
        portal_ts = wide.pop(PORTAL, None)
        if portal_ts is not None:
            for other in brands:
                if other != brand:
                    wide.setdefault(other, portal_ts)
        if not wide:
            del self._wide[key]


def _scope_order(item: tuple[int | None, str]) -> int:
    return -1 if item[0] is None else item[0]


def _record(
    email: str,
    sub: Subscription,
    channel: str,
    state: str,
    *,
    source: str,
    now: str,
    legal_basis: str | None,
    legal_basis_explanation: str | None,
    reason: str,
) -> Record:
    record: Record = {
        "subscriberIdString": email,
        "subscriptionId": sub.id,
        "channel": channel,
        "status": state,
        "source": source,
        "timestamp": now,
        "businessUnitId": sub.business_unit_id,
        "subscriptionName": sub.name,
    }
    if legal_basis is not None:
        record["legalBasis"] = legal_basis
    if legal_basis_explanation is not None:
        record["legalBasisExplanation"] = legal_basis_explanation
    record[REASON] = reason
    return record
