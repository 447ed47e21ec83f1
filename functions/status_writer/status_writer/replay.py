"""Replay one subscriber: re-send the ledger's newest entries (merged with this invocation's) in
version order, so the newest lands last even when writes of two invocations crossed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from status_writer.deadline import Deadline
from status_writer.hubspot import CallStats, HubSpotClient
from status_writer.ledger import LedgerEntry, LedgerError, VersionLedger
from status_writer.model import StatusUpdate, UnsubscribeAll
from status_writer.observability import logger
from status_writer.sequencing import Subscriber, opt_out_scope, version

REPLAY_ROUNDS = 3


def replay_subscriber(
    subscriber: Subscriber,
    mine: Sequence[StatusUpdate | UnsubscribeAll],
    *,
    recorded: bool,
    ledger: VersionLedger,
    hubspot: HubSpotClient,
    deadline: Deadline,
    stats: CallStats,
    batch_limit: int,
) -> bool:
    """True once HubSpot holds the subscriber's newest entries, sent last, and the ledger agrees.

    ``mine`` is what this invocation applied for the subscriber. If it was ``recorded``, only entries
    newer than it are re-sent (they may have been undone by it); if recording it conflicted, it is
    re-sent too, since an older update of another invocation may have landed after it."""
    unrecorded = [] if recorded else list(mine)
    floor = min((version(item) for item in mine), default="")
    for _ in range(REPLAY_ROUNDS):
        try:
            record, entries = ledger.history(subscriber)
            merged, newer_mine = _merge(entries, unrecorded)
            due = [
                entry for entry in merged if entry.version > floor or (unrecorded and entry.version == floor)
            ]
            if not _send_in_order(due, hubspot, deadline, stats, batch_limit):
                return False
            if newer_mine:
                if subscriber not in ledger.record(newer_mine, {subscriber: record}):
                    return True
                unrecorded = newer_mine
            elif ledger.touch(subscriber, record.count):
                return True
        except LedgerError as error:
            logger.warning("replay could not use the ledger", extra={"error": str(error)})
            return False
    return False


def _key(entry: LedgerEntry) -> tuple[str, Any]:
    payload = entry.payload
    if entry.kind == "write":
        return ("write", payload.get("subscriptionId"))
    return ("unsubscribe", opt_out_scope(payload.get("businessUnitId")))


def _merge(
    entries: Sequence[LedgerEntry], mine: Sequence[StatusUpdate | UnsubscribeAll]
) -> tuple[list[LedgerEntry], list[StatusUpdate | UnsubscribeAll]]:
    """The ledger's entries with this invocation's newer ones in their place, oldest first."""
    merged = {_key(entry): entry for entry in entries}
    newer: list[StatusUpdate | UnsubscribeAll] = []
    for item in mine:
        entry = _entry(item)
        current = merged.get(_key(entry))
        if current is None or current.version < entry.version:
            merged[_key(entry)] = entry
            newer.append(item)
    return sorted(merged.values(), key=lambda entry: entry.version), newer


def _entry(item: StatusUpdate | UnsubscribeAll) -> LedgerEntry:
    if isinstance(item, UnsubscribeAll):
        payload = {
            "subscriberIdString": item.email,
            "channel": item.channel,
            "businessUnitId": item.business_unit_id,
        }
        return LedgerEntry(version(item), "unsubscribe", payload)
    return LedgerEntry(version(item), "write", item.to_input())


def _send_in_order(
    entries: Sequence[LedgerEntry],
    hubspot: HubSpotClient,
    deadline: Deadline,
    stats: CallStats,
    batch_limit: int,
) -> bool:
    """Consecutive writes share a call; each opt-out is its own call. Every input must come back applied."""
    pending: list[dict[str, Any]] = []

    def flush() -> bool:
        while pending:
            part = pending[:batch_limit]
            del pending[:batch_limit]
            answer = hubspot.write_statuses(part, deadline, stats)
            if not _all_applied(answer.body, len(part)):
                return False
        return True

    for entry in entries:
        if entry.kind == "write":
            pending.append(dict(entry.payload))
            continue
        if not flush():
            return False
        payload = entry.payload
        answer = hubspot.unsubscribe_all(
            [str(payload["subscriberIdString"])],
            str(payload.get("channel") or "EMAIL"),
            payload.get("businessUnitId"),
            deadline,
            stats,
        )
        if not _all_applied(answer.body, 1):
            return False
    return flush()


def _all_applied(body: Any, expected: int) -> bool:
    """A COMPLETE answer with a result for every input and no errors."""
    if not isinstance(body, dict) or body.get("status") != "COMPLETE" or body.get("errors"):
        return False
    results = body.get("results")
    return isinstance(results, list) and len(results) >= expected
