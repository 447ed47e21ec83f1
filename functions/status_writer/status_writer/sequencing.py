"""Keep HubSpot's final state equal to the newest update per key across invocations. Pure: no I/O.

Within one invocation ``coalesce`` and ``order`` decide what wins. Across invocations (an older update
delivered late, a duplicate delivery, a redelivery after a crash), the version ledger remembers what
was applied per subscriber, and ``screen`` decides against it: an update the ledger already holds in
the same or a newer version is superseded; an update that could clobber a newer one already applied
(a write older than a brand's opt-out, an opt-out older than later writes) is sent and its subscriber
then *replayed*: the ledger's newest entries re-sent in version order, so the newest lands last.
A redelivered message is treated the same way: its earlier delivery may have reached HubSpot after a
newer update and died (killed, timed out) before it was recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from status_writer.model import StatusUpdate, UnsubscribeAll

Subscriber = tuple[str, str]  # (lower-case email, channel)
PORTAL_WIDE = "ALL"


def version(item: StatusUpdate | UnsubscribeAll) -> str:
    """A sortable version: occurredAt (or SentTimestamp) in microseconds, then SentTimestamp."""
    sent_ms = max(0, item.message.sent_timestamp_ms)
    occurred = item.occurred_at_us if item.occurred_at_us is not None else sent_ms * 1000
    return f"{max(0, occurred):020d}.{sent_ms:015d}"


def opt_out_scope(business_unit_id: int | None) -> str:
    return PORTAL_WIDE if business_unit_id is None else str(business_unit_id)


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """What the ledger holds for one subscriber (only the writes that were asked about)."""

    count: int = 0  # recordings so far; 0: never recorded
    newest: str = ""  # newest version of anything applied for this subscriber
    writes: Mapping[int, str] = field(default_factory=dict)  # subscription id -> version
    opt_outs: Mapping[str, str] = field(default_factory=dict)  # "ALL" or brand id -> version


@dataclass(frozen=True, slots=True)
class Screening:
    already_applied: set[str]  # message ids the ledger holds in the same or a newer version
    replay: set[Subscriber]  # subscribers to replay after this invocation's sends


def screen(
    writes: Iterable[StatusUpdate],
    unsubscribes: Iterable[UnsubscribeAll],
    records: Mapping[Subscriber, SubscriberRecord],
    redelivered_subscribers: Collection[Subscriber] = (),
) -> Screening:
    """Decide each (coalesced) update against what earlier invocations applied. A subscriber counts as
    redelivered when any of its messages in the batch was, including one coalescing dropped for a newer
    update: the dropped message's earlier delivery is what may have left HubSpot behind the ledger."""
    writes, unsubscribes = list(writes), list(unsubscribes)
    updates: list[StatusUpdate | UnsubscribeAll] = [*writes, *unsubscribes]
    again = {*redelivered_subscribers, *(item.subscriber for item in updates if redelivered(item))}
    already: set[str] = set()
    replay: set[Subscriber] = set()
    for write in writes:
        record = records.get(write.subscriber, SubscriberRecord())
        mine = version(write)
        held = record.writes.get(write.subscription_id, "")
        portal_opt_out = record.opt_outs.get(PORTAL_WIDE, "")
        newer_opt_out = any(stamp > mine for stamp in record.opt_outs.values())
        if held >= mine or portal_opt_out > mine:
            already.add(write.message.message_id)
            if newer_opt_out and held == mine:
                # Applied before, yet a newer opt-out may not have been re-sent after it (a replay cut
                # short returns the message): replay again rather than trust HubSpot's state.
                replay.add(write.subscriber)
            elif write.subscriber in again and (held > mine or newer_opt_out):
                # An earlier delivery may have landed after the newer update and died unrecorded.
                replay.add(write.subscriber)
        elif newer_opt_out:
            replay.add(write.subscriber)  # it may undo a newer brand opt-out: re-send what is newer
    for request in unsubscribes:
        record = records.get(request.subscriber, SubscriberRecord())
        mine = version(request)
        stored = record.opt_outs.get(opt_out_scope(request.business_unit_id), "")
        if stored >= mine:
            already.add(request.message.message_id)
            if (stored == mine or request.subscriber in again) and record.newest > mine:
                replay.add(request.subscriber)  # as above: cut short, or an unrecorded earlier delivery
        elif record.newest > mine:
            replay.add(request.subscriber)  # it overrides newer writes: re-send them after it
    return Screening(already_applied=already, replay=replay)


def redelivered(item: StatusUpdate | UnsubscribeAll) -> bool:
    """SQS delivered this message before: that delivery's HubSpot call may have happened unrecorded."""
    return item.message.receive_count > 1
