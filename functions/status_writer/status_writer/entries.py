"""The values the ordering plan works on: a contact's entries (one per key, with a version) and its
history. Pure: no I/O. README "Outcomes" and docs/ordering.md state the rules these values carry.

An entry's key is a subscription (``("S", id)``) or an opt-out scope (``("U", brand)`` or
``("U", "ALL")``); its version is ``occurredAt`` (else ``SentTimestamp``) in microseconds, then
``SentTimestamp``, as one sortable string. An entry comes from the batch, from the ordering ledger,
or from HubSpot's own state as read before sending (``origin`` ``HUBSPOT``: a change made in HubSpot,
stamped with HubSpot's ``timestamp``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from status_writer.model import Message, StatusUpdate, UnsubscribeAll

Contact = tuple[str, str]  # (lower-case email, channel)
EntryKey = tuple[str, str]  # ("S", subscription id) or ("U", opt-out scope)
Update = StatusUpdate | UnsubscribeAll
PORTAL_WIDE = "ALL"
WRITE, OPT_OUT = "S", "U"
LEDGER, HUBSPOT = "ledger", "hubspot"  # where a history entry comes from
UNSUBSCRIBED = "UNSUBSCRIBED"


@dataclass(frozen=True, slots=True)
class Entry:
    """One applied (or to-be-applied) input as HubSpot takes it, with its key and version.
    ``stamps``: the ``timestamp``s HubSpot gave the statuses it set (µs), how the function later
    knows its own writes in HubSpot's state."""

    key: EntryKey
    version: str
    payload: Mapping[str, Any]
    stamps: tuple[int, ...] = field(default=(), compare=False)
    origin: str = field(default=LEDGER, compare=False)
    unsure: bool = field(default=False, compare=False)  # HUBSPOT origin: may be another invocation's write

    @property
    def opt_out(self) -> bool:
        return self.key[0] == OPT_OUT

    @property
    def state(self) -> str:
        """The status this entry leaves its key in (an opt-out: ``UNSUBSCRIBED``)."""
        return UNSUBSCRIBED if self.opt_out else str(self.payload.get("statusState"))


@dataclass(frozen=True, slots=True)
class History:
    """What is known of one contact: the newest entry per key (from the ledger, and with the freshness
    check from HubSpot), how often the ledger recorded it (the optimistic-concurrency check; 0:
    never), and ``current``: HubSpot's state per key as read (state, timestamp), for skipping no-ops."""

    entries: Mapping[EntryKey, Entry] = field(default_factory=dict)
    count: int = 0
    current: Mapping[EntryKey, tuple[str, int]] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()  # the source HubSpot names the function's writes by, as recorded


# The history of every contact the ledger never recorded, shared: its maps are read-only, so no code
# can change one contact's history through it.
NEVER_RECORDED = History(entries=MappingProxyType({}), current=MappingProxyType({}))


def version(update: Update) -> str:
    """A sortable version: occurredAt (or SentTimestamp) in microseconds, then SentTimestamp."""
    sent_ms = max(0, update.message.sent_timestamp_ms)
    occurred = update.occurred_at_us if update.occurred_at_us is not None else sent_ms * 1000
    return f"{max(0, occurred):020d}.{sent_ms:015d}"


def stamp_version(stamp_us: int) -> str:
    """The version of a change HubSpot stamped at ``stamp_us``, comparable with ``version``."""
    return f"{max(0, stamp_us):020d}.{max(0, stamp_us) // 1000:015d}"


def opt_out_scope(business_unit_id: int | None) -> str:
    return PORTAL_WIDE if business_unit_id is None else str(business_unit_id)


def entry_of(update: Update, stamps: tuple[int, ...] = ()) -> Entry:
    if isinstance(update, UnsubscribeAll):
        payload = {
            "subscriberIdString": update.email,
            "channel": update.channel,
            "businessUnitId": update.business_unit_id,
        }
        return Entry((OPT_OUT, opt_out_scope(update.business_unit_id)), version(update), payload, stamps)
    return Entry((WRITE, str(update.subscription_id)), version(update), update.to_input(), stamps)


def committed(
    history: History, applied: Iterable[Entry], dropped: Iterable[EntryKey] = ()
) -> dict[EntryKey, Entry]:
    """The entries to record: the history, minus re-sends HubSpot rejects for good (an archived
    subscription: nothing left to keep in order), plus what applied now. A HubSpot-side change is
    kept without its stamps: the function did not write it, and a stamp in the ledger says it did.
    An ``unsure`` one (it may be another invocation's unrecorded write) is not kept: recorded, the
    function's own re-send of an older entry would stand as the newest change of its key for the
    ledger's whole retention; the next read judges it again."""
    gone = set(dropped)
    entries = {
        key: replace(entry, stamps=(), origin=LEDGER) if entry.origin == HUBSPOT else entry
        for key, entry in history.entries.items()
        if key not in gone and not entry.unsure
    }
    for entry in applied:
        entries[entry.key] = entry
    return entries


def others_changes(merged: History, sources: Collection[str]) -> dict[EntryKey, Entry]:
    """The HubSpot-side changes of a merged history that name another writer: a ``source`` that is
    not one the function's writes carry. What an unsure call (its answer lost or not ``COMPLETE``)
    may have undone, and HubSpot no longer shows once it landed: recorded (``committed``), their
    re-send is not lost (docs/ordering.md, rule 5). A wide opt-out names no writer (``wide_of`` gives
    it no source), nor does a status without one: either may be the function's own unconfirmed write,
    which recorded would stand as the newest change of its key; neither is kept."""
    return {
        key: entry
        for key, entry in merged.entries.items()
        if entry.origin == HUBSPOT
        and not entry.unsure
        and isinstance(entry.payload.get("source"), str)
        and entry.payload["source"] not in sources
    }


@dataclass(frozen=True, slots=True)
class Planned:
    """One input to send: a batch update (``update`` set) or a history entry re-sent (``update`` None)."""

    contact: Contact
    resent: Entry | None  # the history entry re-sent; None for a batch update
    update: Update | None
    index: int  # place in the contact's sequence
    step: int  # even: a write step; odd: an opt-out step
    triggers: frozenset[int] = frozenset()  # earlier sequence places that may have undone a re-send
    unconditional: bool = False  # a doubt triggered the re-send: due whatever this invocation did

    @property
    def entry(self) -> Entry:
        if self.resent is not None:
            return self.resent
        assert self.update is not None
        return entry_of(self.update)


@dataclass(frozen=True, slots=True)
class Step:
    """One round of calls. ``plain``: batch writes of contacts with nothing to order (no history, no
    opt-out, no doubt), always due and never held: kept as they are, as most writes are."""

    opt_outs: bool
    items: tuple[Planned, ...]
    plain: tuple[StatusUpdate, ...] = ()


RESEND = Message(message_id="", position=-1, body="")  # what a re-sent history entry stands on


def update_of_entry(entry: Entry) -> Update:
    """A history entry rebuilt as the update that sends it again."""
    payload = entry.payload
    email, channel = str(payload["subscriberIdString"]), str(payload.get("channel") or "EMAIL")
    if entry.opt_out:
        brand = payload.get("businessUnitId")
        return UnsubscribeAll(RESEND, email, channel, brand if isinstance(brand, int) else None)
    return StatusUpdate(
        RESEND,
        email,
        int(payload["subscriptionId"]),
        str(payload["statusState"]),
        channel,
        payload.get("legalBasis"),
        payload.get("legalBasisExplanation"),
    )
