"""Carry out the ordering plan: read what is known (the ledger, HubSpot's state), send the plan's
steps, record what applied, re-plan the contacts another invocation recorded for meanwhile. Each
batch update ends with one result; a contact whose re-sends could not all be done has its updates
come back (``REPLAY_INCOMPLETE``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from status_writer.entries import (
    LEDGER,
    NEVER_RECORDED,
    Contact,
    Entry,
    EntryKey,
    History,
    Planned,
    Step,
    Update,
    committed,
    entry_of,
    others_changes,
)
from status_writer.freshness import Known
from status_writer.ledger import LedgerError, VersionLedger
from status_writer.model import (
    AWAITING_UNSUBSCRIBE_ALL,
    LEDGER_UNAVAILABLE,
    REPLAY_INCOMPLETE,
    UNCERTAIN,
    UNCONFIRMED_CHANGE,
    ItemResult,
    StatusUpdate,
    UnsubscribeAll,
)
from status_writer.observability import logger
from status_writer.plan import Plan, build_plan, is_due, update_of
from status_writer.read_state import read_known
from status_writer.runtime import Invocation
from status_writer.send import send_opt_outs, send_writes

ROUNDS = 3
# A redelivery HubSpot rejects for good comes back to run its contact's unfinished replay only up to
# this receive, inside the 5 the template asks MaxReceiveCount for: SQS never redrives it reasonless.
REJECTED_REPLAY_RECEIVES = 3


@dataclass
class Delivery:
    """The result of every batch update planned (superseded by the history: applied, and listed)."""

    results: dict[str, ItemResult] = field(default_factory=dict)
    superseded: dict[str, str | None] = field(default_factory=dict)


@dataclass
class _Sent:
    """What sending one plan did, per contact."""

    results: dict[str, ItemResult] = field(default_factory=dict)
    applied: dict[Contact, list[Update]] = field(default_factory=dict)
    entries: dict[Contact, list[Entry]] = field(default_factory=dict)  # to record, with HubSpot's stamps
    dropped: dict[Contact, set[EntryKey]] = field(default_factory=dict)
    changed: set[Contact] = field(default_factory=set)  # HubSpot may hold something new for them
    unsure: set[Contact] = field(default_factory=set)  # an unsure call may have changed HubSpot for them
    incomplete: set[Contact] = field(default_factory=set)
    took_effect: dict[Contact, set[int]] = field(default_factory=dict)  # sequence places (plan.is_due)
    blocked: set[Contact] = field(default_factory=set)  # a batch opt-out did not apply: later writes wait


# Per contact: applied here, doubted, and settled without a call (superseded by what was known).
Mine = dict[Contact, tuple[list[Update], list[Update], list[Update]]]


def deliver(invocation: Invocation, updates: Sequence[Update], doubts: Sequence[Update]) -> Delivery:
    """Plan and send ``updates`` (coalesced) against each contact's history and HubSpot's state."""
    delivery = Delivery()
    known, updates, doubts, unread = read_known(invocation, updates, doubts)
    delivery.results.update({message_id: ItemResult(failure) for message_id, failure in unread.items()})
    ledger = invocation.runtime.ledger
    if ledger is None:
        plan = build_plan(known.histories({}), updates)
        _no_call(invocation, plan, delivery)
        delivery.results.update(_send_plan(invocation, plan, record=False).results)
        return delivery
    try:
        histories = ledger.read(
            {update.subscriber for update in updates}, invocation.call.deadline.call_time_s
        )
    except LedgerError as error:
        logger.warning("version ledger unavailable; the batch comes back", extra={"error": str(error)})
        delivery.results.update({u.message.message_id: ItemResult(LEDGER_UNAVAILABLE) for u in updates})
        return delivery
    merged = known.histories(histories)  # recorded as read: HubSpot-side entries outlive a cut-short repair
    plan = build_plan(merged, updates, doubts)
    sent = _send_plan(invocation, plan)
    _no_call(invocation, plan, delivery)
    _record_unchanged(plan, updates, sent)
    delivery.results.update(sent.results)
    doubted: dict[Contact, list[Update]] = {}
    for update in doubts:
        doubted.setdefault(update.subscriber, []).append(update)
    passed: dict[Contact, list[Update]] = {}
    for update in updates:
        if (
            update.message.message_id in plan.superseded
            and plan.superseded[update.message.message_id] is None
        ):
            passed.setdefault(update.subscriber, []).append(update)
    mine = {c: (sent.applied.get(c, []), doubted.get(c, []), passed.get(c, [])) for c in sent.changed}
    unsettled, unfinished = _record(
        invocation, ledger, merged, sent, mine, recorded=histories, delivery=delivery
    )
    unfinished |= sent.incomplete
    for _ in range(ROUNDS - 1):
        if not unsettled or not invocation.call.deadline.allows_call():
            break
        unsettled, undone = _replan(invocation, ledger, known, unsettled, delivery)
        unfinished |= undone
    _incomplete(updates, doubts, unfinished | set(unsettled), delivery)
    return delivery


def _no_call(invocation: Invocation, plan: Plan, delivery: Delivery) -> None:
    """The results of the updates the plan needs no call for: superseded by the history (or by
    HubSpot), and those HubSpot already holds."""
    for message_id, winner in plan.superseded.items():
        if winner is None:
            delivery.results[message_id] = ItemResult()
    delivery.superseded.update(plan.superseded)
    for message_id, (mine, theirs) in plan.by_hubspot.items():
        logger.debug(
            "superseded by HubSpot",
            extra={"message_id": message_id, "version": mine, "hubspot_version": theirs},
        )
    for message_id in plan.unchanged:
        delivery.results[message_id] = ItemResult()
    for message_id in plan.unconfirmed:
        delivery.results[message_id] = ItemResult(UNCONFIRMED_CHANGE)
    invocation.call.stats.no_calls(len(plan.by_hubspot), len(plan.unchanged))


def _record_unchanged(plan: Plan, updates: Sequence[Update], sent: _Sent) -> None:
    """An update HubSpot already holds is recorded as applied, so the ledger knows its version (an
    older update after it loses to it); without HubSpot's stamp, which says who set the state only
    when the function did (plan.Plan)."""
    for update in updates:
        if plan.unchanged.get(update.message.message_id):
            sent.entries.setdefault(update.subscriber, []).append(entry_of(update))
            sent.applied.setdefault(update.subscriber, []).append(update)
            sent.changed.add(update.subscriber)


def _replan(
    invocation: Invocation, ledger: VersionLedger, known: Known, mine: Mine, delivery: Delivery
) -> tuple[Mine, set[Contact]]:
    """Another invocation recorded for these contacts meanwhile: read again and plan what this one
    applied, as updates and as doubts (it may have landed after theirs), and judge again what it
    superseded (what HubSpot held may have been that invocation's write, not a HubSpot-side change)."""
    try:
        histories = ledger.read(mine, invocation.call.deadline.call_time_s)
    except LedgerError as error:
        logger.warning("replay could not read the ledger", extra={"error": str(error)})
        return {}, set(mine)
    applied = [update for updates, _, _ in mine.values() for update in updates]
    passed = [update for _, _, settled in mine.values() for update in settled]
    doubts = [update for updates, doubted, _ in mine.values() for update in (*updates, *doubted)]
    merged = known.histories(histories, stale=True)
    plan = build_plan(merged, [*applied, *passed], doubts)
    sent = _send_plan(invocation, plan)
    _record_unchanged(plan, [*applied, *passed], sent)
    undone = {
        u.subscriber for u in applied if not sent.results.get(u.message.message_id, ItemResult()).applied
    }
    for update in passed:  # sent now (or back now), it ends as that did
        message_id = update.message.message_id
        again = ItemResult(UNCONFIRMED_CHANGE) if message_id in plan.unconfirmed else None
        result = again or sent.results.get(message_id)
        if result is not None:
            delivery.results[message_id] = result
            delivery.superseded.pop(message_id, None)
    sent.results.clear()  # these updates applied before: their results stand unless the replay fails
    conflicts, failed = _record(
        invocation,
        ledger,
        merged,
        sent,
        {c: mine[c] for c in sent.changed},
        recorded=histories,
        delivery=delivery,
    )
    return conflicts, undone | sent.incomplete | failed


def _record(
    invocation: Invocation,
    ledger: VersionLedger,
    histories: Mapping[Contact, History],
    sent: _Sent,
    mine: Mine,
    *,
    recorded: Mapping[Contact, History],
    delivery: Delivery,
) -> tuple[Mine, set[Contact]]:
    """Commit every contact HubSpot may hold something new for (``histories`` with HubSpot's state
    merged in: a HubSpot-side change a send may have undone is kept, so its re-send is not lost with
    an invocation cut short), and for a contact only an unsure call may have changed, the ledger's
    history as ``recorded`` with the other writers' changes it may have undone
    (``entries.others_changes``); return the conflicted contacts (with what to plan again for them)
    and the contacts that could not be recorded."""
    sources = frozenset(invocation.runtime.hubspot.own_sources)
    changes = []
    for contact in sorted(sent.changed):
        seen = histories.get(contact, NEVER_RECORDED)
        entries = sent.entries.get(contact, [])
        changes.append((contact, seen, committed(seen, entries, sent.dropped.get(contact, set()))))
    for contact in sorted(sent.unsure - sent.changed):
        seen = histories.get(contact, NEVER_RECORDED)
        if others := others_changes(seen, sources):
            kept = recorded.get(contact, NEVER_RECORDED)
            changes.append((contact, seen, committed(replace(kept, entries={**kept.entries, **others}), ())))
    report = ledger.commit(changes, invocation.call.deadline.call_time_s, sources)
    if report.failed:
        logger.warning("version ledger unavailable after sending", extra={"contacts": len(report.failed)})
    for contact in report.failed:
        for update in sent.applied.get(contact, []):
            delivery.results[update.message.message_id] = ItemResult(LEDGER_UNAVAILABLE)
    return {contact: mine[contact] for contact in report.conflicts if contact in mine}, set(report.failed)


def _send_plan(invocation: Invocation, plan: Plan, *, record: bool = True) -> _Sent:
    """Step by step, oldest first; a contact's writes wait for its earlier opt-outs to apply."""
    sent = _Sent()
    for step in plan.steps:
        ready = [p for p in step.items if is_due(p, sent.took_effect.get(p.contact, set()))]
        go = [p for p in ready if step.opt_outs or p.contact not in sent.blocked]
        for planned in ready:
            if not step.opt_outs and planned.contact in sent.blocked:
                _held(planned, sent)
        results = _send_step(invocation, step, go)
        for update, result in zip(step.plain, results, strict=False):
            sent.results[update.message.message_id] = result
            if record and result.failure is None:  # only the ledger needs what applied per contact
                sent.applied.setdefault(update.subscriber, []).append(update)
                sent.entries.setdefault(update.subscriber, []).append(entry_of(update, result.stamps))
                sent.changed.add(update.subscriber)
        for planned, result in zip(go, results[len(step.plain) :], strict=True):
            _note(planned, result, step.opt_outs, sent)
    return sent


def _send_step(invocation: Invocation, step: Step, items: Sequence[Planned]) -> list[ItemResult]:
    """One call round: the step's plain writes first, then its planned inputs, results in that order."""
    updates = [update_of(planned) for planned in items]
    if step.opt_outs:
        return send_opt_outs(invocation, [u for u in updates if isinstance(u, UnsubscribeAll)])
    return send_writes(invocation, [*step.plain, *(u for u in updates if isinstance(u, StatusUpdate))])


def _held(planned: Planned, sent: _Sent) -> None:
    if planned.update is None:
        sent.incomplete.add(planned.contact)
    else:
        sent.results[planned.update.message.message_id] = ItemResult(AWAITING_UNSUBSCRIBE_ALL)


def _note(planned: Planned, result: ItemResult, opt_out: bool, sent: _Sent) -> None:
    """One input's result: what took effect, what to record, what blocks or is left undone."""
    failure = result.failure
    contact = planned.contact
    if failure is None or failure.category in UNCERTAIN:
        sent.took_effect.setdefault(contact, set()).add(planned.index)
        if failure is not None:
            sent.unsure.add(contact)
    if planned.update is not None:
        sent.results[planned.update.message.message_id] = result
        if failure is None:
            sent.applied.setdefault(contact, []).append(planned.update)
            sent.entries.setdefault(contact, []).append(entry_of(planned.update, result.stamps))
            sent.changed.add(contact)
    else:
        sent.changed.add(contact)
        if failure is None:  # re-sent: HubSpot stamped it anew, and it is the ledger's own from now on
            kept = planned.entry.stamps if planned.entry.origin == LEDGER else ()  # never another's stamp
            again = replace(planned.entry, stamps=result.stamps or kept, origin=LEDGER)
            sent.entries.setdefault(contact, []).append(again)
        elif failure.permanent:
            sent.dropped.setdefault(contact, set()).add(planned.entry.key)  # nothing left to keep in order
        elif failure is not None:
            sent.incomplete.add(contact)
    if opt_out and failure is not None and planned.update is not None:
        # A batch opt-out comes back and goes first again; a re-send never blocks: the writes after
        # it are the newest of their keys, and holding them would leave the older opt-out on top.
        sent.blocked.add(contact)


def _incomplete(
    updates: Sequence[Update], doubts: Sequence[Update], contacts: set[Contact], delivery: Delivery
) -> None:
    """A contact whose re-sends are not all done: its updates that stood come back to finish them, and
    for a few receives its redeliveries HubSpot rejected for good (whose next delivery replays it)."""
    redelivered = {u.message.message_id for u in doubts if u.message.receive_count < REJECTED_REPLAY_RECEIVES}
    for update in updates:
        message_id = update.message.message_id
        result = delivery.results.get(message_id)
        if update.subscriber not in contacts or result is None:
            continue
        failure = result.failure
        if failure is None or (failure.permanent and message_id in redelivered):
            delivery.results[message_id] = ItemResult(REPLAY_INCOMPLETE)
