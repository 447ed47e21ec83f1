"""The five invariants of a chaos run, checked after it drained, and the figures that go with them.
With several portals (`--portals N`, local.chaos.portals) each portal's final state is judged in its own
emulator state, and a sixth invariant holds each portal to itself: its calls carry only its own tokens
and name only its own contacts, and the other portals are applied while one's token is revoked."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from local.aws.event_source import SqsEventSource
from local.aws.provision import Provisioned
from local.aws.queues import REDRIVE_REASON, DeadLetters, queue_depth
from local.chaos.cli import EMAIL_PATTERN, FUNCTION_TIMEOUT_S, VISIBILITY_TIMEOUT_S
from local.chaos.hostile import HostileFaults
from local.chaos.injection import ChaosEnvironment, InjectionCounts
from local.chaos.portal_faults import PortalRevocation, check_isolation, per_portal_figures
from local.chaos.portals import Credential, PortalLayout, emulators
from local.chaos.races import raced
from local.chaos.report import Report
from local.chaos.schedule import Schedule
from local.chaos.workload import LATE, POISON, RESEND, is_invalid
from local.hostile import FAULT_KINDS
from local.workload.actors import ActorChange, ActorRun, made, superseded_by_hubspot
from local.workload.feeder import Feeder
from local.workload.portal_checks import PortalCheck, check_portals
from local.workload.tally import RunTally
from local.workload.verify import StateMismatch, check_state, emulator_lookup
from local.workload.workload import APPLY, WorkItem, Workload, in_portal


@dataclass
class Evidence:
    """Everything a drained chaos run left to check."""

    workload: Workload
    tally: RunTally
    counts: InjectionCounts
    letters: DeadLetters
    sqs: Any
    provisioned: Provisioned
    emulator: Any
    schedule: Schedule
    logs_dir: Path
    drained: bool
    feeder: Feeder
    sources: Sequence[SqsEventSource]
    hostile: HostileFaults
    environments: Sequence[ChaosEnvironment]
    actors: ActorRun | None = None  # the HubSpot-side writers (local.workload.actors)
    layout: PortalLayout = field(default_factory=PortalLayout)  # --portals N > 1: the portals
    credentials: Sequence[Credential] = ()  # one per portal, with every token it had
    revocation: PortalRevocation | None = None  # the revoked portal's windows
    items: list[WorkItem] = field(default_factory=list)  # the messages that were sent
    changes: list[ActorChange] = field(default_factory=list)  # the HubSpot-side changes made
    portal_checks: list[PortalCheck] = field(default_factory=list)  # each portal judged on its own

    def __post_init__(self) -> None:
        self.items = [item for item in self.workload.items if item.message_id]
        self.changes = made(self.actors.changes) if self.actors else []

    def counters(self) -> dict[str, Any]:
        """The emulator's counters, summed over its portals."""
        return _summed([e.counters() for e in emulators(self.credentials)] or [self.emulator.counters()])

    def portal_emulator(self, portal: int | None) -> Any:
        return self.emulator if portal is None else self.emulator.portal(portal)


def check_invariants(report: Report, **evidence: Any) -> None:
    """Check the five invariants (each a list of problems; empty: it held) and gather the figures."""
    ev = Evidence(**evidence)
    state_problems, mismatches = _final_state(ev, report)
    dlq_problems, dlq_figures = _dead_letter_contents(ev)
    accounting_problems, accounting_figures = _accounting(ev)
    leak_problems, leak_figures = _log_leaks(ev)
    report.invariants = {
        "1 final state = newest change per key across both writers": state_problems,
        "2 invalid -> DLQ with reason; no valid in DLQ": dlq_problems,
        "3 nothing in flight; one outcome each": accounting_problems,
        "4 no token, no raw email in logs": leak_problems,
        "5 within time budget; raised only where a crash was injected": _time_budget(ev),
    }
    if ev.layout.ids:
        isolation_problems, isolation_figures = _isolation(ev)
        report.invariants[
            "6 each portal on its own: its tokens, its contacts; the others applied while one is revoked"
        ] = isolation_problems
        report.figures.update(isolation_figures)
    report.figures.update(
        {
            "messages": len(ev.workload),
            "sent": len(ev.items),
            "wrong_final_state": len(mismatches),
            "stale_overwrites": sum(1 for m in mismatches if m.stale_overwrite),
            **_actor_figures(ev),
            **dlq_figures,
            **accounting_figures,
            **leak_figures,
            **_run_figures(ev),
        }
    )
    report.notes += _notes(ev, dlq_figures)


def _final_state(ev: Evidence, report: Report) -> tuple[list[str], list[StateMismatch]]:
    """1. HubSpot holds the newest change of every key, an upstream update's or a HubSpot-side one's."""
    bodies = {item.message_id: item.body for item in ev.items}
    if ev.layout.ids:
        tokens = {c.portal: list(c.used) for c in ev.credentials if c.portal is not None}
        ev.portal_checks = check_portals(
            ev.items,
            ev.emulator,
            tokens,
            windows=ev.tally.windows,
            dead_lettered=ev.letters.ids,
            sent_ms=ev.tally.sent_ms,
            skip=set(),
            actors=ev.changes,
        )
        mismatches = [m for check in ev.portal_checks for m in check.state.mismatches]
    else:
        _, mismatches = check_state(
            ev.items, emulator_lookup(ev.emulator), ev.tally.windows, ev.letters.ids, actors=ev.changes
        )
    mismatches = _without_races(ev, report, mismatches)
    report.explanations = [_explain(m.key, ev, m.portal) for m in mismatches[:5]]
    problems = [
        f"{'' if m.portal is None else f'portal {m.portal} '}key {m.key}: HubSpot {m.actual}, newest change says {m.expected} ({m.message_id}: "
        f"{bodies.get(m.message_id, _hubspot_side(ev, m.key))[:140]}){' [stale overwrite]' if m.stale_overwrite else ''}"
        for m in mismatches
    ]
    if ev.actors:
        problems += [f"HubSpot-side change refused: {error}" for error in ev.actors.errors]
    return problems, mismatches


def _without_races(ev: Evidence, report: Report, mismatches: list[Any]) -> list[Any]:
    """The mismatches left once keys lost to the read-to-write race are set apart (local.chaos.races):
    those are counted in the report, not failed."""
    if not mismatches:
        return mismatches
    logs: dict[int | None, list[dict[str, Any]]] = {}
    kept = []
    for m in mismatches:
        if m.portal not in logs:
            logs[m.portal] = ev.portal_emulator(m.portal).request_log()
        if raced(m.key, m.message_id, ev.changes, logs[m.portal], FUNCTION_TIMEOUT_S):
            report.raced.append(f"{'' if m.portal is None else f'portal {m.portal} '}key {m.key}")
        else:
            kept.append(m)
    return kept


def _isolation(ev: Evidence) -> tuple[list[str], dict[str, Any]]:
    """6. Each portal's calls carried only its own tokens and named only its own contacts; while the
    revoked portal's token was refused, the other portals were applied (local.chaos.portal_faults)."""
    problems = [
        f"portal {check.portal}: {check.foreign_token_calls} calls without its tokens, "
        f"{check.foreign_contact_calls} naming another portal's contacts: {check.samples}"
        for check in ev.portal_checks
        if check.foreign_token_calls or check.foreign_contact_calls
    ]
    invocations = [record for source in ev.sources for record in source.invocations]
    figures: dict[str, Any] = {"portals": per_portal_figures(ev.credentials, invocations)}
    for check in ev.portal_checks:
        figures["portals"][str(check.portal)].update(check.to_dict())
    revoked = ev.layout.revoked
    if ev.revocation is not None and ev.revocation.credential is not None and revoked is not None:
        more, isolation = check_isolation(ev.credentials, revoked, ev.revocation.windows, invocations)
        problems += more + ev.revocation.errors
        figures["portal_faults"] = {**isolation, "rate_limited_portal": ev.layout.limited}
    return problems, figures


def _summed(maps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counter maps added up key by key (numbers summed, nested maps merged the same way)."""
    out: dict[str, Any] = {}
    for one in maps:
        for name, value in one.items():
            if isinstance(value, dict):
                out[name] = _summed([out.get(name) or {}, value])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = out.get(name, 0) + value
            else:
                out.setdefault(name, value)
    return out


def _hubspot_side(ev: Evidence, key: tuple[str, int, str]) -> str:
    return "; ".join(c.describe() for c in ev.changes if any(k == key for k, _ in c.effects))


def _actor_figures(ev: Evidence) -> dict[str, Any]:
    """How many HubSpot-side changes there were, of which kind, and how many upstream messages the
    oracle says they supersede."""
    return {
        "hubspot_side_changes": len(ev.changes),
        "hubspot_side_changes_by_kind": dict(Counter(f"{c.kind} {c.action}" for c in ev.changes)),
        "upstream_superseded_by_hubspot": superseded_by_hubspot(ev.items, ev.changes),
        "hubspot_side_refused": len(ev.actors.errors) if ev.actors else 0,
    }


def _invalid_fate(ev: Evidence, item: WorkItem, optouts: dict[str, list[Any]]) -> str:
    """Where an invalid message ended: "dlq" (with a reason), "superseded", "destroyed", "outage" or a
    problem."""
    letters, tally = ev.letters, ev.tally
    if letters.by_handler.get(item.message_id):
        return "dlq"
    redriven = item.message_id in letters.redriven
    if item.message_id in tally.deleted_ids and not redriven and _older_than_portal_optout(item, optouts, ev):
        return "superseded"  # README: an older write is superseded by a portal-wide opt-out
    window = tally.windows.get(item.message_id)
    if not redriven and window is not None and _overlaps(window, ev.schedule.destroy_windows):
        return "destroyed"  # its invocation overlapped a drain-and-delete of the DLQ
    last = tally.last_windows.get(item.message_id)
    if redriven and last is not None and _overlaps(last, ev.schedule.outage_windows):
        # its last invocation met the DLQ deleted: the copy was refused, the record came back and SQS
        # redrove it, the fallback the README names (Outcomes: the DLQ cannot be reached)
        return "outage"
    where = "redriven by SQS without a reason" if redriven else "not in the DLQ"
    return f"invalid message {item.message_id} {where}: {item.body[:100]}"


def _overlaps(window: tuple[float, float], windows: Sequence[tuple[float, float]]) -> bool:
    return any(start <= window[1] and window[0] <= end for start, end in windows)


def _dead_letter_contents(ev: Evidence) -> tuple[list[str], dict[str, Any]]:
    """2. Every invalid message in the DLQ with a reason, and no valid one there."""
    invalid = [item for item in ev.items if is_invalid(item)]
    optouts = _portal_optouts(ev.items)
    fates = Counter(_invalid_fate(ev, item, optouts) for item in invalid)
    problems = [fate for fate in fates if fate not in {"dlq", "superseded", "destroyed", "outage"}]
    valid_in_dlq = [item for item in ev.items if not is_invalid(item) and item.message_id in ev.letters.ids]
    problems += [
        f"valid message {item.message_id} in the DLQ "
        f"({ev.letters.by_handler.get(item.message_id) or REDRIVE_REASON}): {item.body[:100]}"
        for item in valid_in_dlq
    ]
    return problems, {
        "valid_in_dlq": len(valid_in_dlq),
        "invalid_messages": len(invalid),
        "invalid_in_dlq_with_reason": fates["dlq"],
        # of those, the ones the function could not judge before their last receive (README: Outcomes)
        "invalid_in_dlq_receives_exhausted": sum(
            ev.letters.by_handler.get(item.message_id) == "RECEIVES_EXHAUSTED" for item in invalid
        ),
        "invalid_superseded_by_portal_optout": fates["superseded"],
        "invalid_destroyed_with_the_dlq": fates["destroyed"],
        "invalid_redriven_after_a_dlq_outage": fates["outage"],
        "dlq_duplicate_copies": ev.letters.duplicates,
        "dlq_by_reason": ev.letters.by_reason(),
    }


def _accounting(ev: Evidence) -> tuple[list[str], dict[str, Any]]:
    """3. Nothing left in flight, and every sent message in exactly one final outcome."""
    problems: list[str] = []
    in_flight = sum(queue_depth(ev.sqs, queue.url) for queue in ev.provisioned.queues)
    if not ev.drained:
        problems.append("the queues did not drain within --drain-timeout")
    if in_flight:
        problems.append(f"{in_flight} messages left in the source queues")
    if ev.feeder.send_errors:
        problems.append(f"{len(ev.feeder.send_errors)} send errors")
    if len(ev.items) != len(ev.workload):
        problems.append(f"only {len(ev.items)} of {len(ev.workload)} messages were sent")
    lost: list[WorkItem] = []
    for item in ev.items:
        endings = int(item.message_id in ev.tally.deleted_ids) + int(item.message_id in ev.letters.redriven)
        if endings == 0:
            lost.append(item)
        elif endings > 1:
            problems.append(f"message {item.message_id} deleted and redriven")
    problems += [f"lost: {item.message_id} {item.body[:100]}" for item in lost[:20]]
    return problems, {"lost": len(lost), "in_flight": in_flight}


def _log_leaks(ev: Evidence) -> tuple[list[str], dict[str, Any]]:
    """4. No token and no raw email address in any worker log line."""
    tokens = list(ev.schedule.tokens_used)
    emails = {item.expectation.email.lower() for item in ev.items if item.expectation.email}
    emails |= {m.lower() for item in ev.items for m in EMAIL_PATTERN.findall(item.body)}
    token_leaks = email_leaks = lines_scanned = 0
    samples: list[str] = []
    for path in sorted(ev.logs_dir.glob("shard*-slot*.log")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                lines_scanned += 1
                if any(token in line for token in tokens):
                    token_leaks += 1
                    samples.append(f"token in {path.name}")
                found = [m for m in EMAIL_PATTERN.findall(line) if m.lower() in emails]
                if found:
                    email_leaks += 1
                    samples.append(f"email {found[0]} in {path.name}: {line[:160]}")
    problems = samples[:20] if lines_scanned else ["no worker log lines captured"]
    return problems, {
        "token_leaks": token_leaks,
        "email_leaks": email_leaks,
        "log_lines_scanned": lines_scanned,
    }


def _time_budget(ev: Evidence) -> list[str]:
    """5. No invocation timed out or raised, and no crash but the injected kills."""
    problems: list[str] = []
    outcomes = ev.tally.outcomes
    if outcomes.get("timeout"):
        problems.append(f"{outcomes['timeout']} invocations timed out")
    if outcomes.get("error"):
        problems.append(f"{outcomes['error']} invocations raised")
    invocations = [record for source in ev.sources for record in source.invocations]
    unexplained = [
        r
        for r in invocations
        if r.result.status == "crash" and r.request_id not in ev.counts.crashed_request_ids
    ]
    if unexplained:
        problems.append(f"{len(unexplained)} crashes without an injected kill")
    samples: Counter[str] = Counter()
    for record in invocations:
        if record.result.status in {"error", "timeout"}:
            error = record.result.error or {}
            tiny = " (tiny budget)" if record.request_id in ev.counts.tiny_request_ids else ""
            message = str(error.get("errorMessage"))[:120]
            samples[f"{record.result.status}{tiny}: {error.get('errorType')}: {message}"] += 1
    return problems + [f"{n} x {text}" for text, n in samples.most_common(10)]


def _count(counters: Any, *names: str) -> int:
    """The first of `names` an emulator counter map has, as an int (0 when none)."""
    return next((int(counters[name]) for name in names if name in counters), 0)


def _faults(ev: Evidence, emu: dict[str, Any]) -> dict[str, int]:
    """Every injected fault, counted by whoever injected it (the emulator or the harness)."""
    by_status = emu.get("by_status", {})
    emu_faults = dict(emu.get("faults", {}))
    rate_limited = emu.get("rate_limited", {})
    items, counts = ev.items, ev.counts
    return {
        "http_5xx": sum(int(v) for k, v in emu_faults.items() if k in {"500", "502", "503", "504"}),
        "dropped_connection": _count(emu_faults, "drop"),
        "hang_past_timeout": _count(emu_faults, "hang"),
        "429_ten_secondly": _count(rate_limited, "TEN_SECONDLY_ROLLING"),
        "429_daily": _count(rate_limited, "DAILY"),
        "whole_batch_400": _count(emu_faults, "batch-400", "whole_batch_400"),
        "processing": _count(emu_faults, "processing"),
        "nameless_context": _count(emu_faults, "nameless", "nameless_context"),
        "401_revoked_token": _count(by_status, "401"),
        "403_missing_scopes": _count(by_status, "403"),
        "per_contact_calls": sum(
            sum(int(n) for n in by.values())
            for route, by in emu.get("by_route", {}).items()
            if route.startswith("statuses/{")
        ),
        "environments_recycled_after_scope_loss": sum(env.recycled for env in ev.environments),
        **{f"hostile_{kind}": ev.hostile.counts[kind] for kind in FAULT_KINDS},
        "token_rotations": counts.token_rotations,
        "dlq_outages": counts.dlq_outages,
        "worker_killed_mid_batch": counts.kills,
        "tiny_time_budget": counts.tiny_budgets,
        "duplicate_deliveries_sent": sum(1 for i in items if i.source == RESEND),
        "older_sent_after_newer": sum(1 for i in items if i.source == LATE),
        "unknown_subscription_999999": sum(
            1 for i in items if i.expectation.reason == "HUBSPOT_REJECTED_ITEM"
        ),
        "invalid_bodies": sum(1 for i in items if i.expectation.reason == "INVALID_MESSAGE"),
        "poison_bodies": sum(1 for i in items if i.source == POISON),
        "unsubscribe_all_messages": sum(1 for i in items if '"UNSUBSCRIBE_ALL"' in i.body),
    }


def _run_figures(ev: Evidence) -> dict[str, Any]:
    """The run's own figures: faults, invocations, HubSpot requests, retries and outcomes."""
    emu = ev.counters()
    tally = ev.tally
    return {
        "faults": _faults(ev, emu),
        "emulator_fault_counters": dict(emu.get("faults", {})),
        "fault_windows_opened": dict(ev.counts.windows),
        "kills_after_a_hubspot_call": ev.counts.kill_after_hubspot_call,
        "hubspot_requests": _count(emu, "total"),
        "hubspot_calls_logged": tally.hubspot_calls,
        "invocations": tally.invocations,
        "invocation_outcomes": dict(tally.outcomes),
        "failed_invocations": tally.failed_invocations,
        "retries": tally.retried,
        "redeliveries": sum(
            max(0, count - 1)
            for source in ev.sources
            for record in source.invocations
            for count in record.receive_counts.values()
        ),
        "applied": tally.applied,
        "superseded": tally.superseded,
        "schedule_errors": ev.schedule.errors,
        "poll_errors": sum(len(s.poll_errors) for s in ev.sources),
    }


def _notes(ev: Evidence, dlq: dict[str, Any]) -> list[str]:
    counts = ev.counts
    return [
        "invalid = the oracle's dead_letter class: INVALID_MESSAGE bodies and HUBSPOT_REJECTED_ITEM "
        "(subscription 999999); every other message is valid. A 999999 write older than a portal-wide "
        "unsubscribe-all of the same contact may instead be superseded (deleted without a call), as the "
        f"README's ordering rule says: {dlq['invalid_superseded_by_portal_optout']} were",
        f"DLQ copies: {ev.letters.duplicates} dead-lettered message(s) were sent to the DLQ twice (at-least-once: "
        "e.g. the worker was killed after the DLQ send); same outcome, counted once",
        f"simulation: function timeout {FUNCTION_TIMEOUT_S:g} s (the template's smallest) and queue "
        f"visibility {VISIBILITY_TIMEOUT_S} s (the template derives 480 s), backoff 1..4 s, DAILY park 3 s, HubSpot read timeout 2 s",
        "DLQ outage: the DLQ is emptied into the harness's record, deleted, recreated with the same name and "
        "attributes, and the source queues' RedrivePolicy set again (moto binds it to the queue object). "
        "A DLQ send landing between the harness's last drain and DeleteQueue is destroyed with the queue "
        "(as in AWS): an invalid message missing from the DLQ whose deleting invocation overlapped that "
        f"interval is counted here, not as a failure: {dlq['invalid_destroyed_with_the_dlq']} were; and an "
        "invalid message SQS redrove whose last invocation met the DLQ deleted (its copy refused, it came "
        f"back on its last receive): {dlq['invalid_redriven_after_a_dlq_outage']} were; "
        "--no-dlq-outage rules both out",
        "kills: SIGKILL of the worker's process group 0.3-1.5 s into an invocation; "
        f"{counts.kill_after_hubspot_call} of {counts.kills} after HubSpot answered at least one request "
        "in that interval (any invocation's)",
    ]


def _portal_optouts(items: Sequence[Any]) -> dict[str, list[Any]]:
    """Applicable portal-wide unsubscribe-alls (no businessUnitId) per lowercased email."""
    out: dict[str, list[Any]] = {}
    for item in items:
        if item.expectation.outcome != APPLY or '"UNSUBSCRIBE_ALL"' not in item.body:
            continue
        with contextlib.suppress(ValueError, AttributeError):
            if "businessUnitId" not in json.loads(item.body) and item.expectation.email:
                out.setdefault(item.expectation.email.lower(), []).append(item)
    return out


def _older_than_portal_optout(item: Any, optouts: dict[str, list[Any]], ev: Evidence) -> bool:
    """A write (here: one HubSpot would reject) older than a portal-wide opt-out of the same contact,
    upstream or made in HubSpot: the function supersedes it by design (README, Unsubscribe from all;
    How it works), so it need not reach the DLQ."""
    email = (item.expectation.email or "").lower()
    moment = item.expectation.occurred_at
    hubspot_side = [
        c.made_at
        for c in ev.changes
        if c.email == email and c.action == "unsubscribe_all" and c.business_unit_id is None
    ]
    return moment is not None and any(
        at is not None and at > moment
        for at in [*(o.expectation.occurred_at for o in optouts.get(email, [])), *hubspot_side]
    )


def _explain(key: tuple[str, int, str], ev: Evidence, portal: int | None = None) -> list[str]:
    """Everything about one wrong key: the contact's messages (send order, fate), its HubSpot-side
    changes (not API requests, so not in the log) and every HubSpot request that carried the contact
    (time, route, answer, injected faults, what it asked for it), in the key's own portal."""
    items, letters, tally = in_portal(ev.items, portal), ev.letters, ev.tally
    emulator = ev.portal_emulator(portal)
    email = key[0]
    held = emulator.status(key[0], key[1], key[2]) or {}
    lines = [
        f"{'' if portal is None else f'portal {portal} '}key {key}: HubSpot holds {held.get('status')} ({held.get('source')} at {held.get('timestamp')})"
    ]
    lines += [f"  {c.describe()}: {c.effects}" for c in ev.changes if c.email == email]
    for item in items:
        if item.expectation.email and item.expectation.email.lower() == email:
            window = tally.windows.get(item.message_id)
            fate = (
                f"deleted after invocation {window[0]:.3f}-{window[1]:.3f}"
                if window
                else ("DLQ" if item.message_id in letters.ids else "?")
            )
            lines.append(f"  msg #{item.sequence} {item.source} sent {item.sent_at:.3f} {fate}: {item.body}")
    for entry in emulator.request_log():
        body = entry.get("body")
        text = json.dumps(body).lower() if body is not None else ""
        if email not in text and email not in unquote(str(entry.get("path", ""))).lower():
            continue
        asked = []
        if isinstance(body, dict):
            for one in body.get("inputs") or []:
                if isinstance(one, dict) and str(one.get("subscriberIdString", "")).lower() == email:
                    asked.append(f"{one.get('subscriptionId')}={one.get('statusState')}")
                elif isinstance(one, str) and one.lower() == email:
                    asked.append("unsubscribe-all")
        lines.append(
            f"  HubSpot {entry.get('at')} {entry.get('route') or entry.get('path')} {entry.get('query')} -> "
            f"{entry.get('status')} faults={entry.get('faults')} asked {asked}"
        )
        lines += [f"      held {line}" for line in entry.get("held") or [] if line.lower().startswith(email)]
    return lines
