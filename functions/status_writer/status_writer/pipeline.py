"""One invocation, end to end: parse → portals → coalesce → read HubSpot and the ledger → plan → send
→ record → map outcomes → settle → respond (README "How it works"). Each portal's share goes its own
way, side by side (README: Many portals). Every record ends in exactly one outcome (applied,
superseded, dead-lettered or retryable), and the response lists exactly the retryable ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from status_writer.calls import CallStats
from status_writer.coalesce import coalesce
from status_writer.deadline import RemainingTime
from status_writer.deliver import Delivery, deliver
from status_writer.entries import Update
from status_writer.identity import distinct
from status_writer.model import (
    Failure,
    FailureCategory,
    ItemResult,
    Outcome,
    Rejected,
    StatusUpdate,
    UnsubscribeAll,
)
from status_writer.parse import message_from_record, parse_message
from status_writer.portals import Portal, by_portal
from status_writer.respond import PartialBatchResponse, batch_response
from status_writer.runtime import Invocation, PortalsInFlight, Runtime
from status_writer.settle import settle
from status_writer.summary import counts, log_and_measure

__all__ = ["BatchReport", "Runtime", "process_batch"]


@dataclass
class BatchReport:
    """Outcome per message and the counts the summary line and metrics carry."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    stats: CallStats = field(default_factory=CallStats)
    response: PartialBatchResponse = field(default_factory=lambda: PartialBatchResponse(batchItemFailures=[]))

    def counts(self) -> dict[str, int]:
        return counts(self.outcomes)


def process_batch(event: Mapping[str, Any], context: RemainingTime, runtime: Runtime) -> BatchReport:
    """The handler's whole job: every record's outcome, and the partial batch response."""
    invocation = Invocation.start(runtime, context)
    report = BatchReport(stats=invocation.call.stats)
    records = event.get("Records") if isinstance(event, Mapping) else None
    messages = distinct(
        [
            message_from_record(record, index)
            for index, record in enumerate(records or [])
            if type(record) is dict or isinstance(record, Mapping)
        ]
    )

    parsed = [parse_message(message) for message in messages]
    for item in parsed:
        if isinstance(item, Rejected):
            report.failures[item.message.message_id] = Failure(
                FailureCategory.INVALID_MESSAGE, item.reason, permanent=True
            )
    updates = [item for item in parsed if isinstance(item, StatusUpdate | UnsubscribeAll)]
    settings = runtime.settings
    for update in updates:  # its portal, for the DLQ copy and the summary line
        update.message.portal_id = update.portal_id or settings.default_portal_id
    groups, refused = by_portal(updates, settings)
    for message_id, reason in refused.items():
        report.failures[message_id] = Failure(FailureCategory.INVALID_MESSAGE, reason, permanent=True)
    if len(groups) <= 1:
        delivered = [_deliver_portal(invocation, portal, mine) for portal, mine in groups.items()]
    else:
        in_flight = PortalsInFlight(len(groups))
        delivered = list(
            runtime.portal_pool().map(
                lambda g: _deliver_portal(invocation, g[0], g[1], in_flight), groups.items()
            )
        )
    for delivery, superseded_by in delivered:
        _map_outcomes(report, delivery, superseded_by)
    report.outcomes = settle(messages, report.outcomes, report.failures, invocation)
    log_and_measure(messages, report.outcomes, report.failures, report.stats)
    report.response = batch_response(messages, report.outcomes)
    return report


def _deliver_portal(
    invocation: Invocation, portal: Portal, updates: list[Update], in_flight: PortalsInFlight | None = None
) -> tuple[Delivery, dict[str, str]]:
    """One portal's updates, coalesced and delivered with that portal's runtime."""
    if in_flight is None:
        return _deliver(invocation.for_portal(portal), updates)
    in_flight.started()
    try:
        return _deliver(invocation.for_portal(portal, in_flight), updates)
    finally:
        in_flight.finished()


def _deliver(invocation: Invocation, updates: list[Update]) -> tuple[Delivery, dict[str, str]]:
    writes = coalesce(item for item in updates if isinstance(item, StatusUpdate))
    opt_outs = coalesce(item for item in updates if isinstance(item, UnsubscribeAll))
    # Before coalescing: a redelivered message that loses to a newer one in this batch still says its
    # earlier delivery may have left HubSpot behind the ledger (plan: doubts).
    doubts = [item for item in updates if item.message.receive_count > 1]
    delivery = deliver(invocation, [*opt_outs.winners, *writes.winners], doubts)
    return delivery, {**writes.superseded_by, **opt_outs.superseded_by}


def _map_outcomes(report: BatchReport, delivery: Delivery, coalesced: Mapping[str, str]) -> None:
    """Applied, superseded (by the history, or sharing the outcome of the update that won) or failed."""
    by_history = {mid for mid, winner in delivery.superseded.items() if winner is None}
    links = {**coalesced, **{mid: w for mid, w in delivery.superseded.items() if w is not None}}
    for message_id, result in delivery.results.items():
        if result.failure is not None:
            report.failures[message_id] = result.failure
        else:
            report.outcomes[message_id] = Outcome.SUPERSEDED if message_id in by_history else Outcome.APPLIED
    for loser in links:
        result = delivery.results.get(_final_winner(loser, links), ItemResult(_NO_RESULT))
        if result.failure is None:
            report.outcomes[loser] = Outcome.SUPERSEDED
        else:
            report.failures[loser] = result.failure


def _final_winner(message_id: str, superseded_by: Mapping[str, str]) -> str:
    """Follow "superseded by" links (a write may lose to a newer write that loses to an unsubscribe-all)."""
    seen = {message_id}
    while message_id in superseded_by and superseded_by[message_id] not in seen:
        message_id = superseded_by[message_id]
        seen.add(message_id)
    return message_id


_NO_RESULT = Failure(FailureCategory.INTERNAL_ERROR, "the superseding update has no result", permanent=False)
