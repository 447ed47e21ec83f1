"""`make run`'s end-of-run checks: the figures of the summary, and the problems that fail the run."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local.aws.event_source import SqsEventSource
from local.aws.provision import Provisioned
from local.aws.queues import queue_depth, read_dead_letters
from local.workload.actors import ActorChange, ActorRun, made, superseded_by_hubspot
from local.workload.feeder import Feeder
from local.workload.plan import Plan
from local.workload.summary import Summary
from local.workload.tally import RunTally
from local.workload.verify import (
    StatusLookup,
    key_history,
    lost_messages,
    unexpected_dead_letters,
    verify_state,
)
from local.workload.waiting import Waiting, clock
from local.workload.workload import HUBSPOT_SIDE, WorkItem


def verify_run(
    summary: Summary,
    *,
    plan: Plan,
    tally: RunTally,
    feeder: Feeder,
    sqs: Any,
    provisioned: Provisioned,
    lookup: StatusLookup,
    emulator: Any,
    sources: Sequence[SqsEventSource],
    drained: bool,
    strict_order: bool,
    logs_dir: Path,
    waiting: Waiting | None = None,
    actors: ActorRun | None = None,
) -> None:
    """Fill `summary` with the run's figures and checks. Messages `waiting` counts as parked (DAILY
    limit) are not lost: they are reported as parked, and the keys they touch are not checked yet."""
    items = plan.workload.items
    sent_items = [item for item in items if item.message_id]
    parked = waiting.parked if waiting else frozenset()
    letters = read_dead_letters(sqs, provisioned.dead_letter_queue.url)
    _make_visible(sqs, provisioned.dead_letter_queue.url, letters.messages)
    lost = lost_messages(sent_items, tally.deleted_ids, letters)
    lost["unsettled"] = [message_id for message_id in lost["unsettled"] if message_id not in parked]
    not_yet = {key for item in sent_items if item.message_id in parked for key, _ in item.expectation.effects}
    changes = _hubspot_side(summary, sent_items, actors)
    state = verify_state(
        sent_items, lookup, tally.windows, letters.ids, sent_ms=tally.sent_ms, skip=not_yet, actors=changes
    )
    checked, mismatches = state.checked, state.mismatches
    summary.sent = feeder.sent
    summary.send_errors = len(feeder.send_errors)
    summary.applied = tally.applied
    summary.superseded = tally.superseded
    summary.dead_lettered = len(letters.ids)
    summary.dead_lettered_by_reason = letters.by_reason()
    summary.expected_dead_lettered = sum(1 for i in sent_items if i.expectation.outcome == "dead_letter")
    summary.unexpected_dead_letters = len(unexpected_dead_letters(sent_items, letters))
    summary.retried = tally.retried
    summary.invocations = tally.invocations
    summary.failed_invocations = tally.failed_invocations
    summary.hubspot_calls = tally.hubspot_calls
    summary.hubspot_429s = tally.hubspot_throttled
    summary.poll_errors = sum(len(source.poll_errors) for source in sources)
    if emulator is not None:
        summary.emulator_requests = int(emulator.counters().get("total", 0))
    summary.in_flight = sum(queue_depth(sqs, queue.url) for queue in provisioned.queues) - len(parked)
    summary.parked = len(parked)
    summary.parked_keys = len(not_yet)
    if waiting and waiting.parked_until is not None:
        summary.parked_until = clock(waiting.parked_until)
    summary.lost_unsettled = len(lost["unsettled"])
    summary.lost_missing_dead_letter = len(lost["missing_dead_letter"])
    summary.lost = summary.lost_unsettled + summary.lost_missing_dead_letter
    bodies = {item.message_id: item.body for item in sent_items}
    summary.lost_samples = [
        {"message_id": message_id, "why": why, "body": bodies[message_id][:120]}
        for why, ids in lost.items()
        for message_id in ids[:5]
    ][:5]
    summary.state_keys_checked = checked
    summary.state_mismatches = len(mismatches)
    summary.ties_accepted = state.ties_accepted
    summary.stale_overwrites, summary.hubspot_side_overwrites = (
        sum(1 for m in mismatches if m.stale_overwrite),
        sum(1 for m in mismatches if m.stale_overwrite and m.message_id == HUBSPOT_SIDE),
    )
    summary.mismatch_samples = [m.to_dict() for m in mismatches[:5]]
    if mismatches:  # the full story of each key, for whoever investigates
        histories = [key_history(m.key, sent_items, lookup, tally.windows, letters.ids) for m in mismatches]
        (logs_dir / "state_mismatches.json").write_text(json.dumps(histories, indent=1, default=str))
    judge(summary, drained=drained, strict_order=strict_order)
    if tally.missing_batch_logs:
        sys.stdout.write(f"note: {tally.missing_batch_logs} invocations logged no 'batch processed' line\n")
    for sample in tally.failure_samples:
        sys.stdout.write(f"note: a batch failed as a whole: {sample}\n")


def _hubspot_side(summary: Summary, items: Sequence[WorkItem], actors: ActorRun | None) -> list[ActorChange]:
    """The HubSpot-side changes made (the oracle's second writer), counted into the summary; a change
    HubSpot refused fails the run (the workload asked for what no portal would do)."""
    changes = made(actors.changes) if actors else []
    summary.hubspot_side_changes = len(changes)
    summary.upstream_superseded_by_hubspot = superseded_by_hubspot(items, changes)
    if actors and actors.errors:
        summary.problems.append(f"{len(actors.errors)} HubSpot-side changes refused: {actors.errors[:3]}")
    return changes


def _make_visible(sqs: Any, queue_url: str, messages: Sequence[dict[str, Any]]) -> None:
    """Reading hid the DLQ's messages; show them again, so whoever inspects the DLQ next (`make dlq`
    against a `--keep` run) sees every one."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )


def judge(summary: Summary, *, drained: bool, strict_order: bool) -> None:
    """Turn the figures into problems (the run fails) and warnings (it does not)."""
    problems = summary.problems
    if not drained:
        problems.append("the queue did not drain within --drain-timeout")
    if summary.send_errors:
        problems.append(f"{summary.send_errors} send errors")
    if summary.in_flight:
        problems.append(f"{summary.in_flight} messages left in flight")
    if summary.lost:
        problems.append(f"{summary.lost} messages lost")
    if summary.parked:
        summary.warnings.append(
            f"{summary.parked} messages parked until {summary.parked_until} after HubSpot's DAILY limit: not "
            f"lost, SQS delivers them again then (this local queue stops with the run); "
            f"{summary.parked_keys} keys they touch were not checked"
        )
    wrong = summary.state_mismatches - summary.stale_overwrites
    if wrong:
        problems.append(f"{wrong} keys hold a status no batch's newest update explains")
    if summary.hubspot_side_overwrites:
        problems.append(
            f"{summary.hubspot_side_overwrites} keys ended at an older upstream update written over a newer "
            "HubSpot-side change (README, How it works: the newest change per key wins)"
        )
    if summary.stale_overwrites - summary.hubspot_side_overwrites:
        message = (
            f"{summary.stale_overwrites - summary.hubspot_side_overwrites} keys ended at an older update: a batch without the newest update "
            "wrote after the batch with it (delivery order the function did not undo)"
        )
        (problems if strict_order else summary.warnings).append(message)
