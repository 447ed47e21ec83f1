"""`make run`'s end-of-run checks: the figures of the summary, and the problems that fail the run."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from local.aws.event_source import SqsEventSource
from local.aws.provision import Provisioned
from local.aws.queues import queue_depth, read_dead_letters
from local.workload.actors import ActorChange, ActorRun, made, superseded_by_hubspot
from local.workload.feeder import Feeder
from local.workload.plan import Plan
from local.workload.portal_checks import check_portals, key_histories
from local.workload.summary import Summary
from local.workload.tally import RunTally
from local.workload.verify import (
    StateCheck,
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
    portal_tokens: Mapping[int, str] | None = None,
) -> None:
    """Fill `summary` with the run's figures and checks. Messages `waiting` counts as parked (DAILY
    limit) are not lost: they are reported as parked, and the keys they touch are not checked yet.
    With `portal_tokens` (portal id -> token; a multi-portal run), each portal is judged on its own
    (local.workload.portal_checks) and the figures add up over the portals."""
    items = plan.workload.items
    sent_items = [item for item in items if item.message_id]
    parked = waiting.parked if waiting else frozenset()
    letters = read_dead_letters(sqs, provisioned.dead_letter_queue.url)
    _make_visible(sqs, provisioned.dead_letter_queue.url, letters.messages)
    lost = lost_messages(sent_items, tally.deleted_ids, letters)
    lost["unsettled"] = [message_id for message_id in lost["unsettled"] if message_id not in parked]
    not_yet = {key for item in sent_items if item.message_id in parked for key, _ in item.expectation.effects}
    changes = _hubspot_side(summary, sent_items, actors)
    if portal_tokens and emulator is not None:
        state = _per_portal(
            summary,
            sent_items,
            emulator,
            portal_tokens,
            tally=tally,
            dead_lettered=letters.ids,
            parked=parked,
            changes=changes,
        )
    else:
        state = verify_state(
            sent_items,
            lookup,
            tally.windows,
            letters.ids,
            sent_ms=tally.sent_ms,
            skip=not_yet,
            actors=changes,
        )
    checked, mismatches = state.checked, state.mismatches
    summary.sent = feeder.sent
    summary.send_errors = len(feeder.send_errors)
    summary.dead_lettered = len(letters.ids)
    summary.dead_lettered_by_reason = letters.by_reason()
    summary.expected_dead_lettered = sum(1 for i in sent_items if i.expectation.outcome == "dead_letter")
    summary.unexpected_dead_letters = len(unexpected_dead_letters(sent_items, letters))
    _tally_figures(summary, tally)
    summary.poll_errors = sum(len(source.poll_errors) for source in sources)
    if emulator is not None:
        summary.emulator_requests = _emulator_requests(emulator, portal_tokens)
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
        histories = (
            key_histories(mismatches, sent_items, emulator, tally.windows, letters.ids)
            if portal_tokens and emulator is not None
            else [key_history(m.key, sent_items, lookup, tally.windows, letters.ids) for m in mismatches]
        )
        (logs_dir / "state_mismatches.json").write_text(json.dumps(histories, indent=1, default=str))
    judge(summary, drained=drained, strict_order=strict_order)
    if tally.missing_batch_logs:
        sys.stdout.write(f"note: {tally.missing_batch_logs} invocations logged no 'batch processed' line\n")
    for sample in tally.failure_samples:
        sys.stdout.write(f"note: a batch failed as a whole: {sample}\n")


def _tally_figures(summary: Summary, tally: RunTally) -> None:
    """What the invocations themselves counted."""
    summary.applied = tally.applied
    summary.superseded = tally.superseded
    summary.retried = tally.retried
    summary.invocations = tally.invocations
    summary.failed_invocations = tally.failed_invocations
    summary.hubspot_calls = tally.hubspot_calls
    summary.hubspot_429s = tally.hubspot_throttled


def _emulator_requests(emulator: Any, portal_tokens: Mapping[int, str] | None) -> int:
    """Every API request the emulator saw, over all its portals."""
    portals = [emulator.portal(p) for p in portal_tokens or ()] or [emulator]
    return sum(int(portal.counters().get("total", 0)) for portal in portals)


def _per_portal(
    summary: Summary,
    items: Sequence[WorkItem],
    emulator: Any,
    tokens: Mapping[int, str],
    *,
    tally: RunTally,
    dead_lettered: set[str],
    parked: frozenset[str] | set[str],
    changes: Sequence[ActorChange],
) -> StateCheck:
    """Each portal's state and calls judged on its own; the state figures summed over the portals."""
    skip = {
        (item.expectation.portal, key)
        for item in items
        if item.message_id in parked
        for key, _ in item.expectation.effects
    }
    checks = check_portals(
        items,
        emulator,
        tokens,
        windows=tally.windows,
        dead_lettered=dead_lettered,
        sent_ms=tally.sent_ms,
        skip=skip,
        actors=changes,
    )
    summary.portals = [check.to_dict() for check in checks]
    for check in checks:
        if check.foreign_token_calls or check.foreign_contact_calls:
            summary.problems.append(
                f"portal {check.portal}: {check.foreign_token_calls} calls without its token, "
                f"{check.foreign_contact_calls} naming another portal's contacts: {check.samples}"
            )
    return StateCheck(
        sum(check.state.checked for check in checks),
        [mismatch for check in checks for mismatch in check.state.mismatches],
        sum(check.state.ties_accepted for check in checks),
    )


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
