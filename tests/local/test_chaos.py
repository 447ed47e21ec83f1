"""The fault-injection suite (local.chaos): its workload, and the small profile end to end.

The end-to-end test runs `python -m local.chaos --profile small` as `make chaos` would (its own moto,
emulator and worker processes) and reads the JSON line it prints last; the run starts early, while the
rest of the suite runs (tests/background.py, RUNS).
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest

from local.chaos.workload import LATE, POISON, POISONS, REJECTED_SOURCE, RESEND, chaos_workload, is_invalid
from local.hostile import FAULT_KINDS
from local.workload.workload import DEAD_LETTER, INVALID, _parse_time

PORTAL = {1001: 0, 1002: 0, 1003: 0, 2001: 1}


def test_the_workload_has_the_asked_size_and_every_kind_of_message() -> None:
    # WHEN a chaos workload of 2,000 messages is built
    workload = chaos_workload(2000, seed=3, portal=PORTAL)
    # THEN it has exactly 2,000, with late older updates, re-sends, unknown subscriptions,
    # unsubscribe-alls and invalid bodies among them
    items = workload.items
    assert len(items) == 2000
    sources = Counter(item.source for item in items)
    assert sources[LATE] > 0
    assert sources[RESEND] > 0
    assert sources[REJECTED_SOURCE] > 0
    assert any('"UNSUBSCRIBE_ALL"' in item.body for item in items)
    assert any(item.expectation.reason == "INVALID_MESSAGE" for item in items)
    # AND it is the same for the same seed
    assert [i.body for i in chaos_workload(2000, seed=3, portal=PORTAL).items] == [i.body for i in items]


def test_a_late_update_is_older_than_every_other_update_of_its_key_and_is_sent_after_them() -> None:
    workload = chaos_workload(1500, seed=5, portal=PORTAL)
    items = workload.items
    for late in (item for item in items if item.source == LATE):
        key = late.expectation.key
        others = [i for i in items if i.expectation.key == key and i.source not in {LATE, RESEND}]
        assert others
        assert all(late.expectation.occurred_at < other.expectation.occurred_at for other in others)
        assert all(late.sequence > other.sequence for other in others)


def test_unknown_subscriptions_and_invalid_bodies_are_the_invalid_class() -> None:
    workload = chaos_workload(1500, seed=7, portal=PORTAL)
    for item in workload.items:
        if item.source == REJECTED_SOURCE:
            assert item.expectation.outcome == DEAD_LETTER
            assert item.expectation.reason == "HUBSPOT_REJECTED_ITEM"
        assert is_invalid(item) == (item.expectation.outcome == DEAD_LETTER)
    resent = [item for item in workload.items if item.source == RESEND]
    originals = {item.body for item in workload.items if item.source != RESEND}
    assert all(item.body in originals for item in resent)


def test_poison_bodies_are_invalid_messages_riding_with_valid_updates() -> None:
    # GIVEN a chaos workload
    workload = chaos_workload(3000, seed=11, portal=PORTAL)
    poisoned = [item for item in workload.items if item.source == POISON]
    # THEN it carries poison bodies of every kind, each classed INVALID_MESSAGE (so invariant 2 wants
    # them in the DLQ with that reason)
    assert poisoned
    assert all((i.expectation.outcome, i.expectation.reason) == (DEAD_LETTER, INVALID) for i in poisoned)
    texts = [item.body for item in poisoned]
    assert any("\\ud83d" in t for t in texts)  # lone surrogate, escaped: valid JSON, ASCII
    assert any("\\u202e" in t for t in texts)  # bidi override
    assert any("\\u0085" in t for t in texts)  # C1 control
    assert any('"9999-12-31T23:59:59Z"' in t for t in texts)
    assert any('"2026-01-05"' in t for t in texts)
    assert any("W02" in t for t in texts)
    assert any(t.count('"statusState"') == 2 for t in texts)  # duplicate keys
    assert any("1e400" in t or "18446744073709551616" in t for t in texts)
    assert len(POISONS) == 9
    # AND most share a SendMessageBatch call (so a batch and a chunk) with valid updates
    shared = sum(
        1
        for burst in workload.bursts
        for item in burst
        if item.source == POISON and any(other.expectation.outcome != DEAD_LETTER for other in burst)
    )
    assert shared > len(poisoned) / 2


def test_a_workload_over_three_portals_keeps_each_contact_and_its_added_messages_in_one_portal() -> None:
    """GIVEN a chaos workload over three portals (make chaos --portals 3)
    WHEN it is built
    THEN every valid message names one of them, each contact stays in one portal, the messages added on
    top (late, re-sent, poison, unknown subscription) keep their contact's portal, and poison bodies are
    still INVALID_MESSAGE (a repeated key included)"""
    portals = (90_000_001, 90_000_002, 90_000_003)
    items = chaos_workload(3000, seed=11, portal=PORTAL, portals=portals).items
    owner: dict[str, set[int | None]] = {}
    for item in items:
        if item.expectation.email:
            owner.setdefault(item.expectation.email, set()).add(item.expectation.portal)
    assert all(len(found) == 1 for found in owner.values())
    assert {p for found in owner.values() for p in found} - {None} == set(portals)
    applied = [item for item in items if item.expectation.outcome != DEAD_LETTER]
    assert all(item.expectation.portal in portals for item in applied)
    for source in (LATE, RESEND, REJECTED_SOURCE):
        assert any(item.source == source and item.expectation.portal in portals for item in items)
    poisoned = [item for item in items if item.source == POISON]
    assert any(item.body.count('"statusState"') == 2 for item in poisoned)
    assert all((i.expectation.outcome, i.expectation.reason) == (DEAD_LETTER, INVALID) for i in poisoned)


def test_iso_times_of_late_updates_parse() -> None:
    late = [i for i in chaos_workload(800, seed=2, portal=PORTAL).items if i.source == LATE]
    assert late
    for item in late:
        assert _parse_time(json.loads(item.body)["occurredAt"]) == item.expectation.occurred_at


@pytest.mark.slow
def test_the_small_chaos_profile_keeps_every_invariant(
    background_run: subprocess.CompletedProcess[str],
) -> None:
    # WHEN the small profile runs the whole pipeline under the fault schedule (started early: it mostly
    # waits on fault windows and visibility timeouts, so the rest of the suite runs meanwhile)
    completed = background_run
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr[-3000:]
    summary = json.loads(lines[-1])
    report = completed.stdout[-8000:]
    # THEN nothing was lost, nothing valid was dead-lettered, nothing leaked
    assert summary["messages"] == 400
    assert summary["lost"] == 0, report
    assert summary["valid_in_dlq"] == 0, report
    assert summary["token_leaks"] == 0
    assert summary["email_leaks"] == 0
    invariants = summary["invariants"]
    for name in ("3 nothing", "4 no token"):
        assert next(ok for n, ok in invariants.items() if n.startswith(name)), report
    # AND every invariant held (the report names each failing key with its history)
    assert completed.returncode == 0, report
    assert summary["ok"] is True, report
    assert all(invariants.values()), report
    # AND HubSpot-side writers took part (local.workload.actors), so invariant 1 judged both writers
    assert summary["hubspot_side_changes"] > 0, report
    # AND the faults that every run injects were injected
    faults = summary["faults"]
    for name in (
        "http_5xx",
        "429_ten_secondly",
        "401_revoked_token",
        "token_rotations",
        "dlq_outages",
        "worker_killed_mid_batch",
        "tiny_time_budget",
        "duplicate_deliveries_sent",
        "older_sent_after_newer",
        "unknown_subscription_999999",
        "unsubscribe_all_messages",
        "poison_bodies",
        "403_missing_scopes",
        "per_contact_calls",
        "environments_recycled_after_scope_loss",
    ):
        assert faults[name] > 0, (name, report)
    # AND hostile answers were injected, both those a proxy gives and those mangled on the way back
    hostile = {kind: faults[f"hostile_{kind}"] for kind in FAULT_KINDS}
    assert (
        sum(n for kind, n in hostile.items() if kind in {"html_400", "html_413", "html_200", "redirect"}) > 0
    ), report
    assert (
        sum(n for kind, n in hostile.items() if kind not in {"html_400", "html_413", "html_200", "redirect"})
        > 0
    ), report
