"""The end-of-run checks of a multi-portal run (README, Message contract: `portalId`): each portal's final
state is judged in that portal's emulator state only (a key is (portal, email, subscription, channel)),
and each portal's calls must carry only that portal's token and name only that portal's contacts (the
portal's own request log tells: docs/emulator.md, Several portals)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from local.hubspot_emulator.auth import fingerprint
from local.workload.actors import ActorChange
from local.workload.verify import (
    StateCheck,
    StateMismatch,
    Window,
    emulator_lookup,
    key_history,
    verify_state,
)
from local.workload.workload import Key, WorkItem, in_portal

_STATUSES_PATH = "/statuses/"


@dataclass
class PortalCheck:
    """One portal's figures: its messages, its keys judged in its own state, and its calls."""

    portal: int
    messages: int
    state: StateCheck
    requests: int = 0
    foreign_token_calls: int = 0  # calls in this portal's log made without one of this portal's tokens
    foreign_contact_calls: int = 0  # calls in this portal's log naming another portal's contact
    samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every key at its newest change (a stale overwrite too is not), every call its own."""
        return not self.state.mismatches and not self.foreign_token_calls and not self.foreign_contact_calls

    def to_dict(self) -> dict[str, Any]:
        return {
            "portal": self.portal,
            "messages": self.messages,
            "keys_checked": self.state.checked,
            "mismatches": len(self.state.mismatches),
            "requests": self.requests,
            "foreign_token_calls": self.foreign_token_calls,
            "foreign_contact_calls": self.foreign_contact_calls,
            "ok": self.ok,
        }


def check_portals(
    items: Sequence[WorkItem],
    emulator: Any,
    tokens: Mapping[int, str | Collection[str]],
    *,
    windows: Mapping[str, Window],
    dead_lettered: set[str],
    sent_ms: Mapping[str, int],
    skip: set[tuple[int | None, Key]],
    actors: Sequence[ActorChange] = (),
) -> list[PortalCheck]:
    """Every portal of `tokens` (portal id -> its token, or every token it had when they were rotated),
    judged on its own."""
    contacts = contacts_by_portal(items)
    checks = []
    for portal, token in tokens.items():
        mine = in_portal(items, portal)
        state = verify_state(
            mine,
            emulator_lookup(emulator.portal(portal)),
            windows,
            dead_lettered,
            sent_ms=sent_ms,
            skip={key for owner, key in skip if owner == portal},
            actors=[change for change in actors if change.portal == portal],
        )
        for mismatch in state.mismatches:
            mismatch.portal = portal
        check = PortalCheck(portal, len(mine), state)
        _check_calls(check, emulator.portal(portal).request_log(), token, contacts.get(portal, set()))
        checks.append(check)
    return checks


def key_histories(
    mismatches: Iterable[StateMismatch],
    items: Sequence[WorkItem],
    emulator: Any,
    windows: Mapping[str, Window],
    dead_lettered: set[str],
) -> list[dict[str, Any]]:
    """`verify.key_history` of each mismatch, read in the portal that holds its key."""
    out = []
    for mismatch in mismatches:
        lookup = emulator_lookup(emulator.portal(mismatch.portal))
        history = key_history(mismatch.key, in_portal(items, mismatch.portal), lookup, windows, dead_lettered)
        out.append({"portal": mismatch.portal, **history})
    return out


def contacts_by_portal(items: Iterable[WorkItem]) -> dict[int, set[str]]:
    """The lowercased addresses each portal's messages name."""
    out: dict[int, set[str]] = {}
    for item in items:
        expectation = item.expectation
        if expectation.portal is not None and expectation.email:
            out.setdefault(expectation.portal, set()).add(expectation.email.lower())
    return out


def _check_calls(
    check: PortalCheck, log: Sequence[dict[str, Any]], tokens: str | Collection[str], mine: set[str]
) -> None:
    expected = {fingerprint(token) for token in ([tokens] if isinstance(tokens, str) else tokens)}
    for entry in log:
        check.requests += 1
        if entry.get("token_fingerprint") not in expected:
            check.foreign_token_calls += 1
            _sample(check, f"{entry.get('method')} {entry.get('path')} without portal {check.portal}'s token")
        strangers = sorted(named_contacts(entry) - mine)
        if strangers:
            check.foreign_contact_calls += 1
            _sample(check, f"{entry.get('method')} {entry.get('path')} names {strangers[:3]}")


def named_contacts(entry: Mapping[str, Any]) -> set[str]:
    """The addresses one logged API call names: in its path (`/statuses/{email}`) or its inputs."""
    names: set[str] = set()
    path = str(entry.get("path") or "")
    if _STATUSES_PATH in path:
        tail = unquote(path.split(_STATUSES_PATH, 1)[1].split("/", 1)[0])
        if "@" in tail:
            names.add(tail.lower())
    body = entry.get("body")
    inputs = body.get("inputs") if isinstance(body, dict) else None
    for value in inputs if isinstance(inputs, list) else ():
        address = value.get("subscriberIdString") if isinstance(value, dict) else value
        if isinstance(address, str) and "@" in address:
            names.add(address.lower())
    return names


def _sample(check: PortalCheck, text: str) -> None:
    if len(check.samples) < 3:
        check.samples.append(text)
