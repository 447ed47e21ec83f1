"""One invocation, end to end: parse → coalesce → chunk → HubSpot → map outcomes → respond.

Every record ends in exactly one outcome (applied, superseded, dead-lettered or retryable), and the
response lists exactly the retryable ones. An unexpected error in one chunk costs only that chunk:
its records come back; the outcomes already known for other chunks stand.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from status_writer.backoff import retry_delay_s
from status_writer.chunk import chunk, halves
from status_writer.coalesce import coalesce
from status_writer.config import Settings
from status_writer.credentials import Credentials, powertools_fetcher
from status_writer.dead_letter import DeadLetterQueue
from status_writer.deadline import Deadline, RemainingTime
from status_writer.hubspot import CallResult, CallStats, HubSpotClient, make_http_client
from status_writer.ledger import LedgerError, VersionLedger
from status_writer.model import (
    Failure,
    FailureCategory,
    ItemResult,
    Message,
    Outcome,
    Rejected,
    StatusUpdate,
    UnsubscribeAll,
)
from status_writer.observability import logger, metrics, redact_emails
from status_writer.order import order_with_unsubscribes
from status_writer.outcomes import map_batch_response, map_unsubscribe_response
from status_writer.parse import message_from_record, parse_message
from status_writer.per_contact import RouteModes
from status_writer.rate_limit import RateLimitPacer
from status_writer.replay import replay_subscriber
from status_writer.respond import batch_response, hold_back_fifo_groups
from status_writer.routes import ApiPaths, route_of
from status_writer.sequencing import Subscriber, SubscriberRecord, redelivered, screen
from status_writer.visibility import VisibilityScheduler

AWAITING_UNSUBSCRIBE_ALL = Failure(
    FailureCategory.AWAITING_UNSUBSCRIBE_ALL,
    "sent only after the same contact's older unsubscribe-all applies; that did not happen yet",
    permanent=False,
)
LEDGER_UNAVAILABLE = Failure(
    FailureCategory.LEDGER_UNAVAILABLE, "the version ledger could not be read or written", permanent=False
)
REPLAY_INCOMPLETE = Failure(
    FailureCategory.REPLAY_INCOMPLETE,
    "applied, but a crossing update of the same contact could not be re-sent in order yet",
    permanent=False,
)
# Failures after which HubSpot may or may not have applied the call.
UNCERTAIN = frozenset(
    {FailureCategory.UNKNOWN_OUTCOME, FailureCategory.NETWORK, FailureCategory.HUBSPOT_UNAVAILABLE}
)
# AWS calls must fit in the deadline's safety margin.
AWS_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})
# botocore validates every parameter of every request client-side; the ledger's requests are built by
# this code, and validating their 100-item lists costs a third of the invocation's CPU (bench: cpu).
LEDGER_CONFIG = AWS_CONFIG.merge(Config(parameter_validation=False))


@dataclass
class Runtime:
    """What one execution environment keeps between warm invocations."""

    settings: Settings
    hubspot: HubSpotClient
    dead_letters: DeadLetterQueue
    visibility: VisibilityScheduler
    executor: ThreadPoolExecutor
    ledger: VersionLedger | None = None

    @classmethod
    def create(cls, settings: Settings, transport: Any = None, sqs: Any = None) -> Runtime:
        """Build the clients once; ``transport`` replaces HubSpot's network (benchmarks only)."""
        http = make_http_client(settings, transport)
        sqs_client = sqs if sqs is not None else boto3.client("sqs", config=AWS_CONFIG)
        return cls(
            settings=settings,
            hubspot=HubSpotClient(
                http,
                Credentials(settings.secret_id, http, powertools_fetcher(AWS_CONFIG)),
                RateLimitPacer(),
                paths=ApiPaths(settings.api_version),
                modes=RouteModes(settings.batch_mode, workers=settings.max_in_flight),
            ),
            dead_letters=DeadLetterQueue(sqs_client, settings.dead_letter_queue_url),
            visibility=VisibilityScheduler(sqs_client),
            executor=ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix="hubspot"),
            ledger=None
            if settings.version_table is None
            else VersionLedger(boto3.client("dynamodb", config=LEDGER_CONFIG), settings.version_table),
        )


@dataclass
class BatchReport:
    """Outcome per message and the counts the summary line and metrics carry."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    stats: CallStats = field(default_factory=CallStats)
    response: dict[str, Any] = field(default_factory=dict)  # what the handler returns to SQS

    def counts(self) -> dict[str, int]:
        tally = Counter(outcome.value for outcome in self.outcomes.values())
        return {outcome.value: tally.get(outcome.value, 0) for outcome in Outcome}


def process_batch(event: Mapping[str, Any], context: RemainingTime, runtime: Runtime) -> BatchReport:
    """The handler's whole job: every record's outcome, and the partial batch response."""
    report = BatchReport()
    records = event.get("Records") if isinstance(event, Mapping) else None
    messages = [
        message_from_record(record, index)
        for index, record in enumerate(records or [])
        if type(record) is dict or isinstance(record, Mapping)
    ]
    deadline = Deadline(context, runtime.settings.call_budget_ms)

    parsed = [parse_message(message) for message in messages]
    for item in parsed:
        if isinstance(item, Rejected):
            report.failures[item.message.message_id] = Failure(
                FailureCategory.INVALID_MESSAGE, item.reason, permanent=True
            )
    updates = [item for item in parsed if isinstance(item, StatusUpdate | UnsubscribeAll)]
    writes = coalesce(item for item in updates if isinstance(item, StatusUpdate))
    unsubscribes = coalesce(item for item in updates if isinstance(item, UnsubscribeAll))
    # Before coalescing: a redelivered message that loses to a newer one in this batch still says its
    # subscriber's earlier delivery may have left HubSpot behind the ledger (sequencing.screen).
    again = {item.subscriber for item in updates if redelivered(item)}
    results, already_applied, opted_out = _apply(
        writes.winners, unsubscribes.winners, deadline, runtime, report.stats, redelivered_subscribers=again
    )

    for message_id, result in results.items():
        if result.failure is None:
            report.outcomes[message_id] = Outcome.APPLIED
        else:
            report.failures[message_id] = result.failure
    superseded_by = {**writes.superseded_by, **unsubscribes.superseded_by, **opted_out}
    for loser in superseded_by:
        winner = _final_winner(loser, superseded_by)
        result = results.get(winner, ItemResult(_internal("the superseding update has no result")))
        if result.failure is None:
            report.outcomes[loser] = Outcome.SUPERSEDED
        else:
            report.failures[loser] = result.failure
    for message_id in already_applied:  # the ledger holds this version or a newer one already
        if report.outcomes.get(message_id) is Outcome.APPLIED:
            report.outcomes[message_id] = Outcome.SUPERSEDED

    _settle_failures(messages, report, runtime, deadline)
    _log_and_measure(messages, report)
    report.response = batch_response(messages, report.outcomes)
    return report


def _apply(
    write_winners: Sequence[StatusUpdate],
    unsubscribe_winners: Sequence[UnsubscribeAll],
    deadline: Deadline,
    runtime: Runtime,
    stats: CallStats,
    *,
    redelivered_subscribers: set[Subscriber],
) -> tuple[dict[str, ItemResult], set[str], dict[str, str]]:
    """Send the coalesced updates in order. Returns the result per message, the messages the version
    ledger showed were applied already (same or newer version), and the writes a newer portal-wide
    unsubscribe-all in the batch superseded."""
    results: dict[str, ItemResult] = {}
    already_applied: set[str] = set()
    known: dict[Subscriber, SubscriberRecord] = {}
    replay: set[Subscriber] = set()
    writes_seen, unsubscribes_seen = list(write_winners), list(unsubscribe_winners)
    if runtime.ledger is not None:
        try:
            known = runtime.ledger.read(write_winners, unsubscribe_winners)
        except LedgerError as error:
            logger.warning("version ledger unavailable; the batch comes back", extra={"error": str(error)})
            everything: list[StatusUpdate | UnsubscribeAll] = [*write_winners, *unsubscribe_winners]
            return {item.message.message_id: ItemResult(LEDGER_UNAVAILABLE) for item in everything}, set(), {}
        screening = screen(write_winners, unsubscribe_winners, known, redelivered_subscribers)
        already_applied, replay = screening.already_applied, screening.replay
        write_winners = [w for w in write_winners if w.message.message_id not in already_applied]
        unsubscribe_winners = [u for u in unsubscribe_winners if u.message.message_id not in already_applied]
        results.update({message_id: ItemResult() for message_id in already_applied})
    ordering = order_with_unsubscribes(write_winners, unsubscribe_winners)

    # Three rounds, the last two only when the batch holds unsubscribe-alls: writes that must land
    # first (or have no unsubscribe-all to respect), the unsubscribe-alls, then the re-subscribes.
    results.update(_send(ordering.first, _send_writes, deadline, runtime, stats))
    results.update(_send_unsubscribes(unsubscribe_winners, deadline, runtime, stats))
    ready = [
        w for w in ordering.then if all(results[u].applied for u in ordering.waits_for[w.message.message_id])
    ]
    results.update(_send(ready, _send_writes, deadline, runtime, stats))
    for write in ordering.then:
        results.setdefault(write.message.message_id, ItemResult(AWAITING_UNSUBSCRIBE_ALL))
    if runtime.ledger is not None:
        sent: list[StatusUpdate | UnsubscribeAll] = [*ordering.first, *ordering.then, *unsubscribe_winners]
        seen: list[StatusUpdate | UnsubscribeAll] = [*writes_seen, *unsubscribes_seen]
        screened_out = [item for item in seen if item.message.message_id in already_applied]
        _keep_order_across_invocations(
            screened_out,
            sent,
            results,
            known,
            replay,
            redelivered_subscribers=redelivered_subscribers,
            deadline=deadline,
            runtime=runtime,
            stats=stats,
        )
    return results, already_applied, ordering.superseded_by


def _keep_order_across_invocations(
    screened_out: Sequence[StatusUpdate | UnsubscribeAll],
    sent: Sequence[StatusUpdate | UnsubscribeAll],
    results: dict[str, ItemResult],
    known: Mapping[Subscriber, SubscriberRecord],
    replay: set[Subscriber],
    *,
    redelivered_subscribers: set[Subscriber],
    deadline: Deadline,
    runtime: Runtime,
    stats: CallStats,
) -> None:
    """Record what applied; replay subscribers whose updates may have crossed another invocation's.
    Whatever cannot be recorded or replayed comes back, to be sent again (writes are idempotent), and
    so do updates the ledger already held (``screened_out``) whose subscriber's replay failed."""
    assert runtime.ledger is not None
    applied = [item for item in sent if results[item.message.message_id].applied]
    try:
        conflicts = runtime.ledger.record(applied, known)
    except LedgerError as error:
        logger.warning("version ledger unavailable after sending", extra={"error": str(error)})
        for item in applied:
            results[item.message.message_id] = ItemResult(LEDGER_UNAVAILABLE)
        return
    # A call whose outcome is unknown (PROCESSING, a timeout, a 5xx) may have landed after a newer update
    # another invocation applied meanwhile: replay those subscribers too (only newer entries are sent).
    uncertain = [
        item
        for item in sent
        if (failure := results[item.message.message_id].failure) is not None and failure.category in UNCERTAIN
    ]
    replay = replay | {item.subscriber for item in uncertain}
    for subscriber in sorted(replay | conflicts):
        mine = [item for item in (*applied, *screened_out, *uncertain) if item.subscriber == subscriber]
        if not mine and subscriber in redelivered_subscribers:
            # Nothing of this subscriber changed HubSpot here (e.g. HubSpot rejected the write), but a
            # message of it is a redelivery: its earlier delivery may have started a replay that was cut
            # short (that is why it came back), and only a replay now repairs what that one undid.
            mine = [item for item in sent if item.subscriber == subscriber]
        if not mine:
            # Nothing of this subscriber changed HubSpot here: a replay would re-send its whole history,
            # and if cut short, no message would come back to redo it.
            continue
        done = replay_subscriber(
            subscriber,
            mine,
            recorded=subscriber not in conflicts,
            ledger=runtime.ledger,
            hubspot=runtime.hubspot,
            deadline=deadline,
            stats=stats,
            batch_limit=runtime.settings.batch_limit,
        )
        if not done:
            for item in mine:
                results[item.message.message_id] = ItemResult(REPLAY_INCOMPLETE)


def _final_winner(message_id: str, superseded_by: Mapping[str, str]) -> str:
    """Follow "superseded by" links (a write may lose to a newer write that loses to an unsubscribe-all)."""
    seen = {message_id}
    while message_id in superseded_by and superseded_by[message_id] not in seen:
        message_id = superseded_by[message_id]
        seen.add(message_id)
    return message_id


Item = TypeVar("Item", StatusUpdate, UnsubscribeAll)
ChunkSender = Callable[[Sequence[Item], Deadline, HubSpotClient, CallStats], list[ItemResult]]


def _send(
    items: Sequence[Item],
    send_chunk: ChunkSender[Item],
    deadline: Deadline,
    runtime: Runtime,
    stats: CallStats,
) -> dict[str, ItemResult]:
    """Chunks go out in parallel (bounded by the executor); each chunk's answer maps to its inputs."""
    futures: list[tuple[Sequence[Item], Future[list[ItemResult]]]] = [
        (part, runtime.executor.submit(send_chunk, part, deadline, runtime.hubspot, stats))
        for part in chunk(
            items, runtime.hubspot.inputs_per_call(route_of(items), runtime.settings.batch_limit)
        )
    ]
    results: dict[str, ItemResult] = {}
    for part, future in futures:
        try:
            part_results = future.result()
        except Exception:  # a bug in one chunk must not cost the others their outcomes
            logger.exception("unexpected error while sending a chunk; its records will be retried")
            part_results = [ItemResult(_internal("unexpected error while sending"))] * len(part)
        for item, result in zip(part, part_results, strict=True):
            results[item.message.message_id] = result
    return results


def _send_unsubscribes(
    requests: Sequence[UnsubscribeAll], deadline: Deadline, runtime: Runtime, stats: CallStats
) -> dict[str, ItemResult]:
    """channel and businessUnitId are query parameters, so each (channel, brand) group is its own call."""
    groups: dict[tuple[str, int | None], list[UnsubscribeAll]] = {}
    for request in requests:
        groups.setdefault((request.channel, request.business_unit_id), []).append(request)
    results: dict[str, ItemResult] = {}
    for group in groups.values():
        results.update(_send(group, _send_unsubscribe_chunk, deadline, runtime, stats))
    return results


def _send_writes(
    inputs: Sequence[StatusUpdate], deadline: Deadline, hubspot: HubSpotClient, stats: CallStats
) -> list[ItemResult]:
    """One batch/write call; a whole-batch 400 is bisected until the bad inputs stand alone."""
    answer = hubspot.write_statuses([update.to_input() for update in inputs], deadline, stats)
    if answer.body is not None:
        return map_batch_response(inputs, answer.body)
    return _unanswered(inputs, answer, again=_send_writes, deadline=deadline, hubspot=hubspot, stats=stats)


def _send_unsubscribe_chunk(
    inputs: Sequence[UnsubscribeAll], deadline: Deadline, hubspot: HubSpotClient, stats: CallStats
) -> list[ItemResult]:
    """One batch/unsubscribe-all call for one (channel, brand); bisected like writes."""
    first = inputs[0]
    emails = [request.email for request in inputs]
    answer = hubspot.unsubscribe_all(emails, first.channel, first.business_unit_id, deadline, stats)
    if answer.body is not None:
        return map_unsubscribe_response(inputs, answer.body)
    return _unanswered(
        inputs, answer, again=_send_unsubscribe_chunk, deadline=deadline, hubspot=hubspot, stats=stats
    )


def _unanswered(
    inputs: Sequence[Item],
    answer: CallResult,
    *,
    again: ChunkSender[Item],
    deadline: Deadline,
    hubspot: HubSpotClient,
    stats: CallStats,
) -> list[ItemResult]:
    """A call without a batch body: its failure for every input, or bisection after a whole-batch 400."""
    if answer.failure is not None:
        return [ItemResult(answer.failure)] * len(inputs)
    detail = answer.rejected or "HubSpot rejected the batch"
    if len(inputs) == 1:
        return [ItemResult(Failure(FailureCategory.HUBSPOT_REJECTED_BATCH, detail, permanent=True))]
    left, right = halves(inputs)
    return again(left, deadline, hubspot, stats) + again(right, deadline, hubspot, stats)


def _settle_failures(
    messages: Sequence[Message], report: BatchReport, runtime: Runtime, deadline: Deadline
) -> None:
    """Permanent failures to the DLQ (or back to SQS if that fails); retryable ones get a backoff."""
    for message_id, failure in report.failures.items():
        report.outcomes[message_id] = Outcome.DEAD_LETTERED if failure.permanent else Outcome.RETRYABLE
    report.outcomes = hold_back_fifo_groups(messages, report.outcomes)

    to_dead_letter = [
        (message, report.failures[message.message_id])
        for message in messages
        if report.outcomes.get(message.message_id) is Outcome.DEAD_LETTERED
    ]
    accepted = runtime.dead_letters.send(to_dead_letter, deadline=deadline)
    for message, failure in to_dead_letter:
        if message.message_id not in accepted:
            report.outcomes[message.message_id] = Outcome.RETRYABLE
            reason = (
                "no dead-letter queue configured"
                if runtime.settings.dead_letter_queue_url is None
                else "DLQ refused it"
            )
            report.failures[message.message_id] = Failure(
                FailureCategory.DEAD_LETTER_UNAVAILABLE, f"{reason}; was: {failure.detail}", permanent=False
            )
    report.outcomes = hold_back_fifo_groups(messages, report.outcomes)

    settings = runtime.settings
    delays = []
    for message in messages:
        if report.outcomes.get(message.message_id, Outcome.RETRYABLE) is not Outcome.RETRYABLE:
            continue
        known = report.failures.get(message.message_id)
        floor = None if known is None else known.retry_after_s
        if (
            known is not None
            and known.category is FailureCategory.DAILY_LIMIT
            and settings.daily_retry_s is not None
        ):
            floor = settings.daily_retry_s
        delays.append(
            (
                message,
                retry_delay_s(message.receive_count, settings.backoff_base_s, settings.backoff_max_s, floor),
            )
        )
    if delays:
        runtime.visibility.postpone(delays, deadline=deadline)


def _log_and_measure(messages: Sequence[Message], report: BatchReport) -> None:
    counts = report.counts()
    for message in messages if logger.log_level <= logging.DEBUG else ():
        outcome = report.outcomes.get(message.message_id, Outcome.RETRYABLE)
        failure = report.failures.get(message.message_id)
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
        report.failures[mid].category.value
        for mid, outcome in report.outcomes.items()
        if outcome is not Outcome.APPLIED and mid in report.failures
    )
    logger.info(
        "batch processed",
        extra={
            "records": len(messages),
            **counts,
            "hubspot_calls": report.stats.calls,
            "hubspot_throttled": report.stats.throttled,
            "failure_categories": dict(categories),
        },
    )
    metrics.add_metric(name="RecordsReceived", unit="Count", value=len(messages))
    metrics.add_metric(name="RecordsApplied", unit="Count", value=counts["applied"])
    metrics.add_metric(name="RecordsSuperseded", unit="Count", value=counts["superseded"])
    metrics.add_metric(name="DeadLettered", unit="Count", value=counts["dead_lettered"])
    metrics.add_metric(name="RetryableFailures", unit="Count", value=counts["retryable"])
    permanent = sum(1 for failure in report.failures.values() if failure.permanent)
    metrics.add_metric(name="PermanentFailures", unit="Count", value=permanent)
    metrics.add_metric(name="HubSpotCalls", unit="Count", value=report.stats.calls)
    metrics.add_metric(name="HubSpotThrottled", unit="Count", value=report.stats.throttled)
    # EMF takes at most 100 values per metric, and Powertools publishes and empties the whole set when one
    # reaches 100: the end-of-invocation flush then found it empty and warned. 99 keeps one document.
    for latency in report.stats.latencies_ms[:99]:
        metrics.add_metric(name="HubSpotLatency", unit="Milliseconds", value=latency)


def _internal(detail: str) -> Failure:
    return Failure(FailureCategory.INTERNAL_ERROR, detail, permanent=False)
