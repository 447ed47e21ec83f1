"""The invocation's summary line, DEBUG line per record, and metrics (README "Observability")."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from status_writer.calls import CallStats
from status_writer.model import Failure, Message, Outcome
from status_writer.observability import logger, metrics, redact_emails

# EMF takes at most 100 values per metric, and Powertools publishes and empties the whole set when one
# reaches 100: the end-of-invocation flush then found it empty and warned. 99 keeps one document.
MAX_LATENCIES = 99


def counts(outcomes: Mapping[str, Outcome]) -> dict[str, int]:
    tally = Counter(outcome.value for outcome in outcomes.values())
    return {outcome.value: tally.get(outcome.value, 0) for outcome in Outcome}


def _per_portal(messages: Sequence[Message], outcomes: Mapping[str, Outcome]) -> dict[str, Any]:
    """``portals``: each portal's outcome counts, when the batch names portals (README: Many portals).
    In the log line only: a metric dimension per portal would grow with the portals."""
    tallies: dict[str, Counter[str]] = {}
    for message in messages:
        if message.portal_id is not None:
            outcome = outcomes.get(message.message_id, Outcome.RETRYABLE)
            tallies.setdefault(message.portal_id, Counter())[outcome.value] += 1
    return {"portals": {portal: dict(tally) for portal, tally in sorted(tallies.items())}} if tallies else {}


def log_and_measure(
    messages: Sequence[Message],
    outcomes: Mapping[str, Outcome],
    failures: Mapping[str, Failure],
    stats: CallStats,
) -> None:
    tally = counts(outcomes)
    for message in messages if logger.log_level <= logging.DEBUG else ():
        outcome = outcomes.get(message.message_id, Outcome.RETRYABLE)
        failure = failures.get(message.message_id)
        logger.debug(
            "record outcome",
            extra={
                "message_id": message.message_id,
                "outcome": outcome.value,
                "category": failure.category.value if failure else None,
                "reason": redact_emails(failure.detail) if failure else None,
            },
        )
    categories = Counter(
        failures[mid].category.value
        for mid, outcome in outcomes.items()
        if outcome is not Outcome.APPLIED and mid in failures
    )
    logger.info(
        "batch processed",
        extra={
            "records": len(messages),
            **tally,
            "superseded_by_hubspot": stats.superseded_by_hubspot,
            "unchanged_in_hubspot": stats.unchanged,
            **_per_portal(messages, outcomes),
            "hubspot_calls": stats.calls,
            "hubspot_throttled": stats.throttled,
            "failure_categories": dict(categories),
        },
    )
    count = MetricUnit.Count
    metrics.add_metric(name="RecordsReceived", unit=count, value=len(messages))
    metrics.add_metric(name="RecordsApplied", unit=count, value=tally["applied"])
    metrics.add_metric(name="RecordsSuperseded", unit=count, value=tally["superseded"])
    metrics.add_metric(name="SupersededByHubSpot", unit=count, value=stats.superseded_by_hubspot)
    metrics.add_metric(name="UnchangedInHubSpot", unit=count, value=stats.unchanged)
    metrics.add_metric(name="DeadLettered", unit=count, value=tally["dead_lettered"])
    metrics.add_metric(name="RetryableFailures", unit=count, value=tally["retryable"])
    permanent = sum(1 for failure in failures.values() if failure.permanent)
    metrics.add_metric(name="PermanentFailures", unit=count, value=permanent)
    metrics.add_metric(name="HubSpotCalls", unit=count, value=stats.calls)
    metrics.add_metric(name="HubSpotThrottled", unit=count, value=stats.throttled)
    for latency in stats.latencies_ms[:MAX_LATENCIES]:
        metrics.add_metric(name="HubSpotLatency", unit=MetricUnit.Milliseconds, value=latency)
