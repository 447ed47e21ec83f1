"""The freshness check's decisions: HubSpot's state as its read calls answer it, and that state merged
into a contact's history, so the ordering plan weighs HubSpot-side changes like any other entry.
Pure: no I/O. README "Outcomes" (HubSpot-side changes) states the rule:

- every status HubSpot holds is an entry of origin ``HUBSPOT`` whose version is HubSpot's
  ``timestamp``; a wide opt-out is the entry of its scope (``U:ALL``, ``U:<brand>``);
- a status that carries a timestamp the function saw on its own write (the ledger's ``stamps``), or
  the ``source`` HubSpot gives the function's writes, is the function's own: the ledger's entry, with
  the upstream version, stands for it; so is a wide opt-out (which names no source) stamped at the
  moment of a status of that source, and a status that a redelivered message of this batch may have
  set unrecorded (a doubt of the same state), unless its source says another writer set it;
- any other status newer than the ledger's entry of its key is a HubSpot-side change and takes its
  place; ``current`` keeps every key's state as read, to skip writes HubSpot already holds, unless
  the ledger holds a stamp newer than every status of the read: another invocation wrote after it;
- with the ledger on, until the environment has learned its source, a change stamped within one
  Lambda timeout of the read may be another invocation's write, not recorded yet: it is marked
  ``unsure``, and the plan sends the contact's updates back to the queue, for a few receives,
  instead (by then that invocation has recorded it, or the source is known).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from status_writer.entries import (
    HUBSPOT,
    NEVER_RECORDED,
    OPT_OUT,
    PORTAL_WIDE,
    UNSUBSCRIBED,
    WRITE,
    Contact,
    Entry,
    EntryKey,
    History,
    Update,
    entry_of,
    stamp_version,
)
from status_writer.model import StatusUpdate

FRESHNESS_MODES: tuple[str, ...] = ("all", "subscribed", "off")
STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})
FUTURE_SLACK_US = 86_400 * 1_000_000  # a timestamp further ahead than a day is no change HubSpot made
RECENT_US = 900 * 1_000_000  # Lambda's longest timeout: how long another invocation may write unrecorded
_NEVER_US = 2**63  # no read time given: no status is unsure
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Held = dict[EntryKey, Entry]  # one contact's statuses and wide opt-outs, as HubSpot-side entries


def stamp_of(value: Any) -> int | None:
    """HubSpot's ``timestamp`` (ISO-8601 date-time) in microseconds since the epoch; None if it is not one."""
    if not isinstance(value, str) or not 10 < len(value) <= 40:
        return None
    return _stamp(value)


@functools.lru_cache(maxsize=1024)  # one batch answer's statuses mostly share a few timestamps
def _stamp(value: str) -> int | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_US


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def statuses_of(body: Any, channel: str, now_us: int) -> dict[str, Held]:
    """``batch/read`` results per lower-case email: each ``PublicStatus`` as a write entry."""
    held: dict[str, Held] = {}
    for email, status in _items(body, "statuses"):
        subscription, state = status.get("subscriptionId"), status.get("status")
        stamp = _believable(status.get("timestamp"), now_us)
        if type(subscription) is not int or state not in STATES or stamp is None:
            continue
        payload: dict[str, Any] = {
            "subscriberIdString": email,
            "subscriptionId": subscription,
            "channel": channel,
            "statusState": state,
        }
        for name in ("legalBasis", "legalBasisExplanation", "source"):
            if isinstance(status.get(name), str):
                payload[name] = status[name]
        if type(status.get("businessUnitId")) is int:
            payload["businessUnitId"] = status["businessUnitId"]
        key = (WRITE, str(subscription))
        held.setdefault(email, {})[key] = Entry(key, stamp_version(stamp), payload, (stamp,), HUBSPOT)
    return held


def wide_of(body: Any, channel: str, now_us: int) -> dict[str, Held]:
    """``batch/unsubscribe-all/read`` results per lower-case email: each wide opt-out held as an entry."""
    held: dict[str, Held] = {}
    for email, wide in _items(body, "wideStatuses"):
        stamp = _believable(wide.get("timestamp"), now_us)
        brand = wide.get("businessUnitId")
        if wide.get("status") != UNSUBSCRIBED or stamp is None:
            continue
        if wide.get("wideStatusType") == "PORTAL_WIDE":
            scope, brand = PORTAL_WIDE, None
        elif wide.get("wideStatusType") == "BUSINESS_UNIT_WIDE" and type(brand) is int:
            scope = str(brand)
        else:
            continue
        payload = {"subscriberIdString": email, "channel": channel, "businessUnitId": brand}
        key = (OPT_OUT, scope)
        held.setdefault(email, {})[key] = Entry(key, stamp_version(stamp), payload, (stamp,), HUBSPOT)
    return held


def checked_keys(mode: str, updates: Sequence[Update]) -> Collection[EntryKey] | None:
    """The keys whose HubSpot state counts: every key (None) with ``all``; with ``subscribed`` those of
    writes that grant consent (the legal minimum) and, in ``merge``, every opt-out scope: a wide opt-out
    made in HubSpot covers the subscriptions such a write would grant."""
    if mode == "all":
        return None
    return {
        (WRITE, str(u.subscription_id))
        for u in updates
        if isinstance(u, StatusUpdate) and u.status_state == "SUBSCRIBED"
    }


def own_sources(history: History, held: Mapping[EntryKey, Entry]) -> set[str]:
    """The ``source`` HubSpot gives the function's own writes, as this read shows it: the source of
    each status that carries one of the ledger's stamps."""
    own = {stamp for entry in history.entries.values() for stamp in entry.stamps}
    return {
        str(entry.payload["source"])
        for entry in held.values()
        if entry.stamps[0] in own and isinstance(entry.payload.get("source"), str)
    }


def merge(
    history: History,
    held: Mapping[EntryKey, Entry],
    doubts: Sequence[Update],
    keys: Collection[EntryKey] | None,
    sources: Collection[str] = (),
    *,
    read_us: int = 0,
) -> History:
    """The contact's history with HubSpot's state in it (module docstring). ``sources``: the
    ``source`` of the function's own writes, once known: a status of that source is never a
    HubSpot-side change, and a status of another source is never a redelivery's unrecorded write."""
    author = _Author(
        own={stamp for entry in history.entries.values() for stamp in entry.stamps},
        sources=sources,
        # A redelivery's earlier delivery came after SQS accepted it: an older status is not its doing.
        doubted=[(entry_of(update), update.message.sent_timestamp_ms * 1000) for update in doubts],
        # An opt-out names no source; the statuses it changed carry its timestamp and do.
        own_moments={
            e.stamps[0] for e in held.values() if not e.opt_out and e.payload.get("source") in sources
        },
        recent_us=read_us - RECENT_US if read_us else _NEVER_US,
    )
    entries = dict(history.entries)
    current: dict[EntryKey, tuple[str, int]] = {}
    read_last = max((entry.stamps[0] for entry in held.values()), default=-1)
    # HubSpot stamps a write when it makes it: a recorded stamp newer than all it showed came later.
    written_since = any(stamp > read_last for entry in history.entries.values() for stamp in entry.stamps)
    for key, entry in held.items():
        if keys is not None and key not in keys and not entry.opt_out:
            continue
        if not written_since:
            current[key] = (entry.state, entry.stamps[0])
        if author.is_own(entry):
            continue
        change = replace(entry, unsure=True) if author.unsure(entry) else entry
        known = entries.get(key)
        if known is None or known.version < change.version:
            entries[key] = change
    return History(entries, history.count, current)


@dataclass(frozen=True)
class _Author:
    """Who set a status HubSpot holds: the function (its own write, recorded or not) or a HubSpot-side
    writer. The one place that decides it (README: Outcomes, HubSpot-side changes)."""

    own: Collection[int]  # the timestamps HubSpot gave the function's recorded writes
    sources: Collection[str]  # the source HubSpot names the function's writes by, once known
    doubted: Sequence[tuple[Entry, int]]  # redelivered updates, with when SQS accepted them (µs)
    own_moments: Collection[int]  # timestamps of statuses of the function's source in this read
    recent_us: int  # a status stamped since then may be a concurrent invocation's unrecorded write

    def unsure(self, held: Entry) -> bool:
        """Not the function's own as far as it knows, but it cannot know yet: it has not learned its
        source, and the change is recent enough to be another invocation's write, not recorded yet."""
        return not self.sources and held.stamps[0] >= self.recent_us

    def is_own(self, held: Entry) -> bool:
        stamp, source = held.stamps[0], held.payload.get("source")
        if stamp in self.own or (source is not None and source in self.sources):
            return True
        if held.opt_out and source is None and stamp in self.own_moments:
            return True  # the function's opt-out, whose changed statuses carry its source and moment
        return (source is None or not self.sources) and any(
            _maybe_ours(doubt, held) for doubt, sent_us in self.doubted if stamp >= sent_us
        )


def _maybe_ours(doubt: Entry, held: Entry) -> bool:
    """A redelivered update's earlier delivery may have set this status: the same state of its key, or
    an opt-out's ``UNSUBSCRIBED`` in its scope."""
    if doubt.key == held.key:
        return doubt.state == held.state
    if not doubt.opt_out or held.state != UNSUBSCRIBED:
        return False
    scope = doubt.key[1]
    return scope == PORTAL_WIDE or (not held.opt_out and str(held.payload.get("businessUnitId")) == scope)


def _believable(value: Any, now_us: int) -> int | None:
    stamp = stamp_of(value)
    return stamp if stamp is not None and 0 < stamp <= now_us + FUTURE_SLACK_US else None


def _items(body: Any, field: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(lower-case email, status) for every well-formed status of a read answer's ``results``."""
    results = body.get("results") if isinstance(body, Mapping) else None
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, Mapping) or not isinstance(result.get("subscriberIdString"), str):
            continue
        statuses = result.get(field)
        for status in statuses if isinstance(statuses, list) else []:
            if isinstance(status, Mapping):
                yield result["subscriberIdString"].lower(), status


@dataclass(frozen=True)
class Known:
    """HubSpot's state as read once for an invocation, merged into each ledger read of it."""

    held: Mapping[Contact, Held] = field(default_factory=dict)
    keys: Mapping[Contact, Collection[EntryKey] | None] = field(default_factory=dict)
    doubts: Mapping[Contact, Sequence[Update]] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)  # the environment's memory of its own writes' source
    read_us: int = 0  # when HubSpot was read (µs since the epoch)

    def histories(self, ledger: Mapping[Contact, History], *, stale: bool = False) -> dict[Contact, History]:
        """Each contact's ledger history with HubSpot's state merged in. ``stale``: another invocation
        wrote since the read, so what HubSpot held then says nothing of what it holds now: no update
        is skipped as already held (``History.current`` left out)."""
        merged = dict(ledger)
        for history in ledger.values():  # what the environments that recorded these contacts knew
            self.sources.update(history.sources)
        for contact, held in self.held.items():
            self.sources.update(own_sources(merged.get(contact, NEVER_RECORDED), held))
        for contact, held in self.held.items():
            history = merged.get(contact, NEVER_RECORDED)
            doubts, keys = self.doubts.get(contact, ()), self.keys.get(contact)
            merged[contact] = merge(history, held, doubts, keys, self.sources, read_us=self.read_us)
            if stale:
                merged[contact] = replace(merged[contact], current={})
        return merged
