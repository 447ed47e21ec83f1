"""The run's summary: a table for people, then the same figures as one JSON line (the last stdout line)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass
class Summary:
    """Every figure `make run` reports. `ok` is False when anything was lost or a check failed."""

    sent: int = 0
    applied: int = 0
    superseded: int = 0
    dead_lettered: int = 0
    dead_lettered_by_reason: dict[str, int] = field(default_factory=dict)
    expected_dead_lettered: int = 0
    unexpected_dead_letters: int = 0
    retried: int = 0
    invocations: int = 0
    failed_invocations: int = 0
    hubspot_calls: int = 0
    hubspot_429s: int = 0
    emulator_requests: int | None = None
    in_flight: int = 0
    lost: int = 0
    lost_unsettled: int = 0
    lost_missing_dead_letter: int = 0
    parked: int = 0  # postponed until HubSpot's daily limit resets: not lost
    parked_until: str | None = None
    parked_keys: int = 0
    state_keys_checked: int = 0
    state_mismatches: int = 0
    stale_overwrites: int = 0
    hubspot_side_overwrites: int = 0  # of those, an older upstream update over a HubSpot-side change
    ties_accepted: int = 0  # keys at either of two updates the function cannot order
    hubspot_side_changes: int = 0  # changes made in HubSpot itself (local.workload.actors)
    upstream_superseded_by_hubspot: int = 0  # upstream messages older than one of them (the oracle)
    mismatch_samples: list[dict[str, Any]] = field(default_factory=list)
    portals: list[dict[str, Any]] = field(default_factory=list)  # multi-portal: one row per portal
    lost_samples: list[dict[str, Any]] = field(default_factory=list)
    send_errors: int = 0
    poll_errors: int = 0
    wall_s: float = 0.0
    drain_s: float = 0.0
    messages_per_s: float = 0.0
    shards: int = 1
    concurrency: int = 0
    faults: str = "none"
    target: str = "emulator"
    interrupted: bool = False
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        if self.interrupted:
            for name in CHECK_FIELDS:
                data.pop(name)
        return data


# Figures only the end-of-run checks produce: an interrupted run never ran them, so it shows none.
CHECK_FIELDS = (
    "expected_dead_lettered",
    "unexpected_dead_letters",
    "emulator_requests",
    "in_flight",
    "lost",
    "lost_unsettled",
    "lost_missing_dead_letter",
    "parked",
    "parked_until",
    "parked_keys",
    "state_keys_checked",
    "state_mismatches",
    "stale_overwrites",
    "hubspot_side_overwrites",
    "ties_accepted",
    "hubspot_side_changes",
    "upstream_superseded_by_hubspot",
    "mismatch_samples",
    "lost_samples",
    "portals",
)


def _row(label: str, value: object, note: str = "") -> str:
    return f"  {label:<34} {value!s:>10}  {note}".rstrip()


def format_table(summary: Summary) -> str:
    """The human-readable summary."""
    s = summary
    lines = [
        "",
        f"Summary ({s.target}, faults={s.faults}, {s.shards} queue shard(s), {s.concurrency} slot(s))",
        _row("messages sent", s.sent, f"send errors: {s.send_errors}" if s.send_errors else ""),
        _row("applied to HubSpot", s.applied),
        _row("superseded by a newer update", s.superseded),
        _row(
            "dead-lettered",
            s.dead_lettered,
            "" if s.interrupted else f"oracle expected {s.expected_dead_lettered}",
        ),
    ]
    for reason, count in s.dead_lettered_by_reason.items():
        lines.append(_row(f"  {reason}", count))
    lines += [
        _row("retried deliveries", s.retried),
        _row("invocations", s.invocations, f"{s.failed_invocations} failed as a whole"),
        _row(
            "HubSpot calls",
            s.hubspot_calls,
            "" if s.emulator_requests is None or s.interrupted else f"emulator saw {s.emulator_requests}",
        ),
        _row("HubSpot 429s", s.hubspot_429s),
        _row("wall time (s)", f"{s.wall_s:.1f}", f"drain {s.drain_s:.1f} s"),
        _row("messages/s", f"{s.messages_per_s:.1f}", "sent / drain time"),
    ]
    if s.interrupted:
        return "\n".join([*lines, "", _interrupted(s)])
    lines += [
        "",
        "Checks",
        _row("left in flight (visible+not visible)", s.in_flight, "must be 0"),
        _row("lost", s.lost, f"unsettled {s.lost_unsettled}, missing from DLQ {s.lost_missing_dead_letter}"),
        *(f"    {sample['message_id']} ({sample['why']}): {sample['body']}" for sample in s.lost_samples),
        _row(
            "parked (DAILY limit), not lost",
            s.parked,
            f"until {s.parked_until}; {s.parked_keys} keys not checked yet" if s.parked else "",
        ),
        _row("keys checked in HubSpot", s.state_keys_checked),
        _row(
            "HubSpot-side changes",
            s.hubspot_side_changes,
            f"{s.upstream_superseded_by_hubspot} upstream messages older than one (oracle)",
        ),
        _row("keys not at their newest change", s.state_mismatches, f"stale overwrites {s.stale_overwrites}"),
        _row("keys tied, accepted either way", s.ties_accepted, "same version in different batches"),
        _row("valid updates dead-lettered", s.unexpected_dead_letters),
    ]
    for sample in s.mismatch_samples:
        note = (
            " (a batch without it wrote last)" if sample.get("stale_overwrite") else " (no batch wrote that)"
        )
        if sample.get("message_id") == "hubspot-side-change":
            note = " (written over a newer HubSpot-side change)" if sample.get("stale_overwrite") else note
        where = f"portal {sample['portal']} " if "portal" in sample else ""
        lines.append(
            f"    {where}{tuple(sample['key'])}: HubSpot {sample['actual']}, newest {sample['expected']}{note}"
        )
    if s.state_keys_checked and not s.state_mismatches:
        lines.append(
            f"  HubSpot ended at the newest change per key across both writers (upstream messages and "
            f"{s.hubspot_side_changes} HubSpot-side changes)"
        )
    lines += _portal_rows(s.portals)
    lines += [f"WARNING: {warning}" for warning in s.warnings]
    lines += [
        "",
        "RESULT: OK" if s.ok else "RESULT: FAILED - " + "; ".join(s.problems),
    ]
    return "\n".join(lines)


def _portal_rows(portals: list[dict[str, Any]]) -> list[str]:
    """One row per portal of a multi-portal run, and whether it ended right."""
    if not portals:
        return []
    lines = ["", f"Portals ({len(portals)}): each judged in its own state, its calls by its own token"]
    for row in portals:
        verdict = "ended right" if row["ok"] else "DID NOT end right"
        lines.append(
            _row(
                f"portal {row['portal']}",
                row["messages"],
                f"messages; {row['keys_checked']} keys, {row['mismatches']} not at newest; "
                f"{row['requests']} calls, {row['foreign_token_calls']} without its token, "
                f"{row['foreign_contact_calls']} naming others' contacts: {verdict}",
            )
        )
    return lines


def _interrupted(summary: Summary) -> str:
    why = "; ".join(summary.problems) or "interrupted"
    return (
        f"RESULT: INTERRUPTED - {why}: stopped before the end-of-run checks, so none ran and none are\n"
        "shown; the figures above are what was counted until then (exit status 130)"
    )


def print_summary(summary: Summary, out: TextIO) -> None:
    """The table, then the JSON line (always the last line on stdout)."""
    out.write(format_table(summary) + "\n")
    out.write(json.dumps(summary.to_dict(), sort_keys=True, separators=(",", ":")) + "\n")
    out.flush()
