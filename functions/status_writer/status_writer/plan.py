"""The ordering plan: from what is known of a contact (the ledger's history and HubSpot's state,
``entries``) and what this batch brings, the steps to send, oldest first. Pure: no I/O. README "Outcomes" (the ordering paragraphs) and docs/ordering.md
state the rules; in short:

- every entry has a key (a subscription, or an opt-out scope: one brand or ``ALL``) and a version
  (``occurredAt``, else ``SentTimestamp``); a contact's entries go out in version order, writes of
  all contacts batched together, each run of opt-outs a barrier between them;
- a batch update the history holds in a newer version, or in the same version with the same payload
  (a duplicate), is superseded; the same version with another payload is a later arrival and wins,
  as the later position wins within a batch (one tie rule everywhere);
- a write older than a newer portal-wide opt-out (in the history or the batch) is superseded;
- an update older than a HubSpot-side change of its key (a history entry of origin ``HUBSPOT``) is
  superseded by HubSpot, or unchanged when HubSpot holds its state; one HubSpot already holds, with
  nothing sent before it that may change its key, is unchanged (a no-op, no call);
- a contact whose history holds a change that may be another invocation's unrecorded write
  (``Entry.unsure``) is not planned: its updates come back (``unconfirmed``), before their third
  receive, since superseding by that change, re-sending it or undoing it would each take the
  function's own older write for a HubSpot-side one;
- a history entry that a sent update may have undone (an opt-out after a write, a write after an
  opt-out, a same-key update that may have landed after it) is re-sent after it; that re-send is due
  only once what triggered it took effect, except when the trigger is a *doubt*: a redelivered or
  duplicate message whose earlier delivery may have reached HubSpot at any time.

With no history (the ledger off) the same plan orders one invocation; with the ledger it also
repairs what crossed another invocation. Writes between two brand opt-outs go between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from status_writer.entries import (
    HUBSPOT,
    NEVER_RECORDED,
    OPT_OUT,
    PORTAL_WIDE,
    UNSUBSCRIBED,
    Contact,
    Entry,
    History,
    Planned,
    Step,
    Update,
    entry_of,
    update_of_entry,
)
from status_writer.model import StatusUpdate, UnsubscribeAll

_HISTORY, _BATCH = 0, 1  # at equal versions, what arrived later (the batch) sorts later


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps, and what needs no call: ``superseded`` (message id -> the batch winner's id; None: a
    history entry's), of which ``by_hubspot`` lost to a newer HubSpot-side change (message id ->
    (its version, HubSpot's)); ``unchanged``: updates HubSpot already holds (message id -> whether
    to record its version; False: a newer HubSpot-side change stays the newest). Never with
    HubSpot's stamp: whoever set that state, it was not this update's call."""

    steps: tuple[Step, ...]
    superseded: Mapping[str, str | None]
    by_hubspot: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    unchanged: Mapping[str, bool] = field(default_factory=dict)
    unconfirmed: Set[str] = frozenset()  # their contact's history holds an unsure change: they come back


UNSURE_RECEIVES = 3  # a contact's updates come back for an unsure change only before their third receive


def held(history: History, entry: Entry) -> bool:
    """The history already holds this entry or a newer one of its key (the one tie rule)."""
    known = history.entries.get(entry.key)
    return known is not None and (
        known.version > entry.version or (known.version == entry.version and known.payload == entry.payload)
    )


def build_plan(
    histories: Mapping[Contact, History],
    updates: Iterable[Update],
    doubts: Iterable[Update] = (),
) -> Plan:
    """The steps for every contact of the batch. ``updates`` are coalesced (one per key); ``doubts`` are
    messages whose earlier delivery may have reached HubSpot unrecorded (redeliveries)."""
    doubted: dict[Contact, list[Update]] = {}
    for update in doubts:
        doubted.setdefault(update.subscriber, []).append(update)
    ordered = {contact for contact, history in histories.items() if history.entries or history.current}
    ordered.update(doubted)
    ordered.update(update.subscriber for update in updates if type(update) is UnsubscribeAll)
    plain: list[StatusUpdate] = []
    by_contact: dict[Contact, list[Update]] = {}
    for update in updates:
        contact = update.subscriber
        if contact in ordered:
            by_contact.setdefault(contact, []).append(update)
        elif type(update) is StatusUpdate:
            plain.append(update)
    outcome = _Lost()
    sequences: list[list[Planned]] = []
    for contact in sorted(ordered):
        history = histories.get(contact, NEVER_RECORDED)
        sequences.append(
            plan_contact(contact, history, by_contact.get(contact, []), doubted.get(contact, []), outcome)
        )
    steps = _steps(sequences, plain)
    return Plan(
        steps, outcome.superseded, outcome.by_hubspot, outcome.unchanged, frozenset(outcome.unconfirmed)
    )


@dataclass(slots=True)
class _Lost:
    """The batch updates that need no call, as ``Plan`` reports them."""

    superseded: dict[str, str | None] = field(default_factory=dict)
    by_hubspot: dict[str, tuple[str, str]] = field(default_factory=dict)
    unchanged: dict[str, bool] = field(default_factory=dict)
    unconfirmed: set[str] = field(default_factory=set)


def plan_contact(
    contact: Contact,
    history: History,
    updates: Sequence[Update],
    doubts: Sequence[Update],
    lost: _Lost | None = None,
) -> list[Planned]:
    """One contact's sequence (oldest first); the batch updates it needs no call for go to ``lost``."""
    lost = lost if lost is not None else _Lost()
    if _awaits_author(history, updates):
        lost.unconfirmed.update(update.message.message_id for update in updates)
        return []
    fresh: list[tuple[Entry, Update]] = []
    doubt_entries = [entry_of(update) for update in doubts]
    for update in sorted(updates, key=lambda u: isinstance(u, StatusUpdate)):  # opt-outs first
        entry = entry_of(update)
        message_id = update.message.message_id
        known = history.entries.get(entry.key)
        if known is not None and known.origin == HUBSPOT and known.version > entry.version:
            _lost_to_hubspot(known, entry, update, lost)
            continue
        if held(history, entry):
            lost.superseded[message_id] = None
            if known is not None and known.version == entry.version:
                doubt_entries.append(entry)  # a duplicate: its first copy's replay may have been cut short
            continue
        covered, winner = (False, None) if entry.opt_out else _newer_portal_opt_out(entry, history, fresh)
        if covered:
            portal = history.entries.get((OPT_OUT, PORTAL_WIDE))
            if winner is None and portal is not None and portal.origin == HUBSPOT:
                lost.by_hubspot[message_id] = (entry.version, portal.version)
            lost.superseded[message_id] = winner
            continue
        fresh.append((entry, update))
    sequence = _sequence(contact, history, fresh, doubt_entries)
    if doubt_entries or not history.current:
        return sequence
    kept = _without_no_ops(history, fresh, sequence, lost)
    return sequence if len(kept) == len(fresh) else _sequence(contact, history, kept, doubt_entries)


def _lost_to_hubspot(known: Entry, entry: Entry, update: Update, lost: _Lost) -> None:
    """An update older than a HubSpot-side change of its key: unchanged when HubSpot holds its state
    (nothing to record: the change is newer), else superseded by HubSpot."""
    message_id = update.message.message_id
    if known.state == entry.state:
        lost.unchanged[message_id] = False
    else:
        lost.superseded[message_id] = None
        lost.by_hubspot[message_id] = (entry.version, known.version)


def _awaits_author(history: History, updates: Sequence[Update]) -> bool:
    """The history holds a HubSpot-side change that may be another invocation's write, not recorded
    yet (``Entry.unsure``), and the contact's updates are all before their third receive: they come
    back to be judged again (by then that invocation has recorded it, or the source is known). Never
    past that receive, so SQS's ``maxReceiveCount`` is not reached without a reason."""
    if not updates or not any(entry.unsure for entry in history.entries.values()):
        return False
    return max(update.message.receive_count for update in updates) < UNSURE_RECEIVES


def _without_no_ops(
    history: History, fresh: Sequence[tuple[Entry, Update]], sequence: Sequence[Planned], lost: _Lost
) -> list[tuple[Entry, Update]]:
    """Drop the updates HubSpot already holds (same state, as read) when nothing sent before them in
    the contact's sequence (a batch update or a re-send) may change their key: they would cost a call
    and change nothing. Recorded (their version, not HubSpot's stamp: a stamp in the ledger says the
    function set that status, and a HubSpot-side writer may have). Without them the sequence only
    gets shorter."""
    dropped: set[str] = set()
    for place, planned in enumerate(sequence):
        if planned.update is None:
            continue
        entry = planned.entry
        current = history.current.get(entry.key)
        if current is None and entry.opt_out:
            current = history.current.get((OPT_OUT, PORTAL_WIDE))  # already opted out of every brand
        if current is None or current[0] != entry.state:
            continue
        if not any(_interferes(earlier.entry, entry) for earlier in sequence[:place]):
            lost.unchanged[planned.update.message.message_id] = True
            dropped.add(planned.update.message.message_id)
    return [(entry, update) for entry, update in fresh if update.message.message_id not in dropped]


def _newer_portal_opt_out(
    entry: Entry, history: History, fresh: Sequence[tuple[Entry, Update]]
) -> tuple[bool, str | None]:
    """Whether a portal-wide opt-out newer than a write covers it, and its message id (None: the
    history's)."""
    for opt_out, update in fresh:
        if opt_out.key == (OPT_OUT, PORTAL_WIDE) and opt_out.version > entry.version:
            return True, update.message.message_id
    known = history.entries.get((OPT_OUT, PORTAL_WIDE))
    return known is not None and known.version > entry.version, None


def _interferes(earlier: Entry, later: Entry) -> bool:
    """Sending ``earlier`` may have undone ``later``: an update of the same key overwrites, an opt-out
    covers writes and a write re-subscribes what an opt-out covered; an ``UNSUBSCRIBED`` write and an
    opt-out leave each other as they are."""
    if earlier.key == later.key:
        return True
    write = later if earlier.opt_out else earlier
    return earlier.opt_out != later.opt_out and write.state != UNSUBSCRIBED


def _doubt_undoes(doubt: Entry, entry: Entry) -> bool:
    """A doubted delivery may have landed after ``entry`` (the same key's recorded copy excepted)."""
    if doubt.key == entry.key:
        return doubt.version < entry.version
    return _interferes(doubt, entry)


def _sequence(
    contact: Contact, history: History, fresh: Sequence[tuple[Entry, Update]], doubts: Sequence[Entry]
) -> list[Planned]:
    """Walk the contact's entries in version order; a history entry is re-sent when something earlier
    in the walk (sent now, re-sent, or doubted) may have undone it."""
    replaced = {entry.key for entry, _ in fresh}
    walk: list[tuple[tuple[str, int, int], Entry, Update | None, bool]] = []
    walk += [
        ((e.version, _HISTORY, 0), e, None, False) for k, e in history.entries.items() if k not in replaced
    ]
    walk += [((e.version, _BATCH, u.message.position), e, u, False) for e, u in fresh]
    walk += [((e.version, _HISTORY, -1), e, None, True) for e in doubts]
    walk.sort(key=lambda element: element[0])
    sequence: list[Planned] = []
    doubted: list[Entry] = []
    step = 0
    for _, entry, update, is_doubt in walk:
        if is_doubt:
            doubted.append(entry)
            continue
        triggers: frozenset[int] = frozenset()
        unconditional = False
        if update is None:
            triggers = frozenset(p.index for p in sequence if _interferes(p.entry, entry))
            unconditional = any(_doubt_undoes(d, entry) for d in doubted) or any(
                sequence[i].unconditional for i in triggers
            )
            if not triggers and not unconditional:
                continue
        if entry.opt_out != bool(step % 2):
            step += 1
        resent = entry if update is None else None
        sequence.append(Planned(contact, resent, update, len(sequence), step, triggers, unconditional))
    return sequence


def _steps(sequences: Sequence[Sequence[Planned]], plain: Sequence[StatusUpdate]) -> tuple[Step, ...]:
    steps: dict[int, list[Planned]] = {0: []} if plain else {}
    for sequence in sequences:
        for planned in sequence:
            steps.setdefault(planned.step, []).append(planned)
    return tuple(
        Step(opt_outs=bool(index % 2), items=tuple(steps[index]), plain=tuple(plain) if index == 0 else ())
        for index in sorted(steps)
    )


def is_due(planned: Planned, took_effect: Set[int]) -> bool:
    """A batch update is always due; a re-send once a doubt or something it follows took effect."""
    return planned.update is not None or planned.unconditional or bool(planned.triggers & took_effect)


def update_of(planned: Planned) -> Update:
    """What to send for a planned input: the batch update, or the history entry rebuilt as one."""
    return planned.update if planned.update is not None else update_of_entry(planned.entry)
