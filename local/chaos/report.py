"""The chaos run's report: every figure, the invariants' verdicts, and its output (a table, then one
JSON line)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Report:
    """Every figure of the run and the invariants' verdicts."""

    figures: dict[str, Any] = field(default_factory=dict)
    invariants: dict[str, list[str]] = field(default_factory=dict)  # name -> problems (empty: held)
    notes: list[str] = field(default_factory=list)
    explanations: list[list[str]] = field(default_factory=list)
    raced: list[str] = field(default_factory=list)  # keys lost to the read-to-write race (local.chaos.races)

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and not any(self.invariants.values())


def print_report(report: Report, out: Any) -> None:
    f = report.figures
    rows: list[tuple[str, Any]] = [
        ("messages", f.get("messages")),
        (
            "HubSpot requests (emulator) / calls logged",
            f"{f.get('hubspot_requests')} / {f.get('hubspot_calls_logged')}",
        ),
        ("invocations (outcomes)", f"{f.get('invocations')} {f.get('invocation_outcomes')}"),
        ("retries (listed + failed batches)", f.get("retries")),
        ("redeliveries (receives after the first)", f.get("redeliveries")),
        ("applied / superseded", f"{f.get('applied')} / {f.get('superseded')}"),
        (
            "HubSpot-side changes (upstream messages they supersede)",
            f"{f.get('hubspot_side_changes')} ({f.get('upstream_superseded_by_hubspot')}) "
            f"{f.get('hubspot_side_changes_by_kind')}",
        ),
    ]
    for name, value in (f.get("faults") or {}).items():
        rows.append((f"fault: {name}", value))
    rows += _portal_rows(f)
    for reason, value in (f.get("dlq_by_reason") or {}).items():
        rows.append((f"DLQ: {reason}", value))
    rows += [
        (
            "invalid messages (in DLQ with reason)",
            f"{f.get('invalid_messages')} ({f.get('invalid_in_dlq_with_reason')})",
        ),
        ("invalid superseded by a newer portal-wide opt-out", f.get("invalid_superseded_by_portal_optout")),
        ("DLQ duplicate copies (same outcome)", f.get("dlq_duplicate_copies")),
        ("valid in DLQ", f.get("valid_in_dlq")),
        ("lost", f.get("lost")),
        (
            "wrong final state (stale overwrites)",
            f"{f.get('wrong_final_state')} ({f.get('stale_overwrites')})",
        ),
        ("HubSpot-side changes overwritten in the read-to-write window (README limit)", len(report.raced)),
        (
            "token leaks / email leaks (lines scanned)",
            f"{f.get('token_leaks')} / {f.get('email_leaks')} ({f.get('log_lines_scanned')})",
        ),
        (
            "wall time s (faults on / drained at)",
            f"{f.get('wall_s')} ({f.get('faults_s')} / {f.get('drain_s')})",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    out.write("\n" + "-" * (width + 30) + "\n")
    for name, value in rows:
        out.write(f"{name:<{width}}  {value}\n")
    out.write("-" * (width + 30) + "\ninvariants:\n")
    for name, problems in report.invariants.items():
        out.write(f"  {'PASS' if not problems else 'FAIL'}  {name}\n")
        for problem in problems[:10]:
            out.write(f"        {problem}\n")
        if len(problems) > 10:
            out.write(f"        ... and {len(problems) - 10} more\n")
    for lines in report.explanations:
        out.write("failing key, in detail:\n" + "".join(f"  {line}\n" for line in lines))
    out.write("notes:\n" + "".join(f"  - {note}\n" for note in report.notes))
    if f.get("schedule_errors"):
        out.write(f"schedule errors: {f['schedule_errors'][:5]}\n")
    summary = {
        "ok": report.ok,
        "messages": f.get("messages", 0),
        "lost": f.get("lost"),
        "wrong_final_state": f.get("wrong_final_state"),
        "raced": report.raced,
        "valid_in_dlq": f.get("valid_in_dlq"),
        "token_leaks": f.get("token_leaks"),
        "email_leaks": f.get("email_leaks"),
        "faults": f.get("faults", {}),
        "hubspot_requests": f.get("hubspot_requests"),
        "hubspot_side_changes": f.get("hubspot_side_changes"),
        "upstream_superseded_by_hubspot": f.get("upstream_superseded_by_hubspot"),
        "retries": f.get("retries"),
        "redeliveries": f.get("redeliveries"),
        "dlq_by_reason": f.get("dlq_by_reason", {}),
        "invalid_destroyed_with_the_dlq": f.get("invalid_destroyed_with_the_dlq", 0),
        "invalid_redriven_after_a_dlq_outage": f.get("invalid_redriven_after_a_dlq_outage", 0),
        "invariants": {name: not problems for name, problems in report.invariants.items()},
        "problems": {name: problems[:5] for name, problems in report.invariants.items() if problems},
        "wall_s": f.get("wall_s"),
    }
    if f.get("portals"):
        summary["portals"] = f["portals"]
        summary["portal_faults"] = f.get("portal_faults", {})
    out.write(json.dumps(summary, separators=(",", ":")) + "\n")
    out.flush()


def _portal_rows(f: dict[str, Any]) -> list[tuple[str, Any]]:
    """With several portals: each portal's own figures, its portal-specific fault named, then what the
    revocation windows show (local.chaos.portal_faults)."""
    faults = f.get("portal_faults") or {}
    named = {
        str(faults.get("revoked_portal")): "token revoked for a window",
        str(faults.get("rate_limited_portal")): "a tenth of the rate limit",
    }
    rows: list[tuple[str, Any]] = []
    for portal, figures in (f.get("portals") or {}).items():
        fault = f" ({named[portal]})" if portal in named else ""
        rows.append(
            (
                f"portal {portal}{fault}",
                f"messages {figures.get('messages')}, applied {figures.get('applied', 0)}, superseded "
                f"{figures.get('superseded', 0)}, retryable {figures.get('retryable', 0)}; requests "
                f"{figures.get('requests')}, 401 {figures.get('401')}, 429 {figures.get('429')}, tokens "
                f"{figures.get('tokens')}; keys {figures.get('keys_checked')}, mismatches {figures.get('mismatches')}",
            )
        )
    if faults:
        rows.append(
            (
                "revocation windows (s): 401s / others' writes applied / mixed invocations",
                f"{faults.get('revocation_windows')} ({faults.get('revocation_window_s')}): "
                f"{faults.get('revoked_portal_401s_in_windows')} / "
                f"{faults.get('other_portals_writes_applied_in_windows')} / "
                f"{faults.get('invocations_applying_others_while_revoked')} (windows with no other "
                f"portal's write: {faults.get('windows_refused_without_others_writes')})",
            )
        )
    return rows
