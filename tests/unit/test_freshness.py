"""The freshness check's decisions (README: Outcomes, HubSpot-side changes): HubSpot's state read as
entries, merged into a contact's history, and what the ordering plan makes of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from status_writer.entries import HUBSPOT, LEDGER, Entry, History, committed, entry_of, others_changes
from status_writer.freshness import Known, checked_keys, merge, stamp_of, statuses_of, wide_of
from status_writer.model import StatusUpdate, UnsubscribeAll
from status_writer.parse import parse_message
from status_writer.plan import Plan, build_plan

from tests.factories import status_body, unsubscribe_all_body
from tests.unit.helpers import message

ADA = ("ada@example.com", "EMAIL")
NOW_US = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1_000_000)


def us(at: str) -> int:
    stamp = stamp_of(at)
    assert stamp is not None
    return stamp


def write(
    at: str | None, state: str = "SUBSCRIBED", mid: str = "w", sub: int = 1001, receive: int = 1
) -> StatusUpdate:
    body = (
        status_body("ada@example.com", sub, state)
        if at is None
        else status_body("ada@example.com", sub, state, occurredAt=at)
    )
    item = parse_message(message(body, message_id=mid, receive_count=receive))
    assert isinstance(item, StatusUpdate)
    return item


def opt_out(at: str, brand: int | None = None, mid: str = "u") -> UnsubscribeAll:
    item = parse_message(
        message(unsubscribe_all_body("ada@example.com", brand, occurredAt=at), message_id=mid)
    )
    assert isinstance(item, UnsubscribeAll)
    return item


def status(
    sub: int, state: str, at: str, source: str = "SUBSCRIPTION_PREFERENCES_PAGE", brand: int = 0
) -> dict[str, Any]:
    return {
        "subscriberIdString": "ada@example.com",
        "subscriptionId": sub,
        "channel": "EMAIL",
        "status": state,
        "source": source,
        "timestamp": at,
        "businessUnitId": brand,
    }


def held(*statuses: dict[str, Any], wide: list[dict[str, Any]] | None = None) -> dict[tuple[str, str], Entry]:
    """What HubSpot's two reads answer for ada, as entries."""
    found = statuses_of(
        {
            "status": "COMPLETE",
            "results": [{"subscriberIdString": "Ada@Example.com", "statuses": list(statuses)}],
        },
        "EMAIL",
        NOW_US,
    )
    opt_outs = wide_of(
        {
            "status": "COMPLETE",
            "results": [{"subscriberIdString": "ada@example.com", "wideStatuses": wide or []}],
        },
        "EMAIL",
        NOW_US,
    )
    return {**found.get("ada@example.com", {}), **opt_outs.get("ada@example.com", {})}


def portal_wide(at: str) -> dict[str, Any]:
    return {
        "subscriberIdString": "ada@example.com",
        "channel": "EMAIL",
        "status": "UNSUBSCRIBED",
        "timestamp": at,
        "wideStatusType": "PORTAL_WIDE",
    }


def plan_for(
    updates: list[StatusUpdate | UnsubscribeAll],
    hubspot: dict[tuple[str, str], Entry],
    ledger: History | None = None,
    mode: str = "all",
) -> Plan:
    doubts = [u for u in updates if u.message.receive_count > 1]
    history = merge(ledger or History(), hubspot, doubts, checked_keys(mode, updates))
    return build_plan({ADA: history}, updates, doubts)


def sent(plan: Plan) -> list[tuple[str, str]]:
    """(message id or "resend", state) of every input the plan sends, in order."""
    out: list[tuple[str, str]] = []
    for step in plan.steps:
        out += [(u.message.message_id, u.status_state) for u in step.plain]
        out += [
            ("resend" if p.update is None else p.update.message.message_id, p.entry.state) for p in step.items
        ]
    return out


def test_an_older_subscribed_after_a_newer_opt_out_made_in_hubspot_is_superseded_by_hubspot() -> None:
    # GIVEN the contact unsubscribed from 1001 in HubSpot at 12:00
    hubspot = held(status(1001, "UNSUBSCRIBED", "2026-01-05T12:00:00.000Z"))
    # WHEN an upstream SUBSCRIBED of 11:00 arrives
    plan = plan_for([write("2026-01-05T11:00:00Z")], hubspot)
    # THEN it is not sent: superseded by HubSpot, with both versions for the DEBUG line
    assert sent(plan) == []
    assert plan.superseded == {"w": None}
    mine, theirs = plan.by_hubspot["w"]
    assert mine < theirs


def test_an_older_subscribed_after_a_newer_portal_wide_opt_out_in_hubspot_is_superseded() -> None:
    # GIVEN HubSpot holds only a portal-wide opt-out made at 12:00 (no status listed for 1001)
    hubspot = held(wide=[portal_wide("2026-01-05T12:00:00.000Z")])
    # WHEN an older SUBSCRIBED arrives THEN it is superseded by HubSpot
    plan = plan_for([write("2026-01-05T11:00:00Z")], hubspot)
    assert sent(plan) == []
    assert set(plan.by_hubspot) == {"w"}


def test_an_older_unsubscribed_after_the_contacts_own_newer_resubscribe_is_superseded() -> None:
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T12:00:00.000Z"))
    plan = plan_for([write("2026-01-05T11:00:00Z", "UNSUBSCRIBED")], hubspot)
    assert sent(plan) == []
    assert set(plan.by_hubspot) == {"w"}


def test_a_newer_update_is_sent_over_an_older_hubspot_side_change() -> None:
    hubspot = held(status(1001, "UNSUBSCRIBED", "2026-01-05T09:00:00.000Z"))
    plan = plan_for([write("2026-01-05T11:00:00Z")], hubspot)
    assert sent(plan) == [("w", "SUBSCRIBED")]
    assert plan.superseded == {}


def test_a_contact_hubspot_holds_nothing_for_is_sent_as_before() -> None:
    plan = plan_for([write("2026-01-05T11:00:00Z")], held())
    assert sent(plan) == [("w", "SUBSCRIBED")]
    assert not plan.by_hubspot
    assert not plan.unchanged


def test_without_occurred_at_the_sent_timestamp_is_the_version() -> None:
    # GIVEN a message without occurredAt sent at 10:00 (the helpers' SentTimestamp)
    # WHEN HubSpot changed the key at 10:30, or at 09:30
    later = plan_for([write(None)], held(status(1001, "UNSUBSCRIBED", "2026-01-05T10:30:00.000Z")))
    earlier = plan_for([write(None)], held(status(1001, "UNSUBSCRIBED", "2026-01-05T09:30:00.000Z")))
    # THEN it loses to the later change and wins over the earlier one
    assert set(later.by_hubspot) == {"w"}
    assert sent(earlier) == [("w", "SUBSCRIBED")]


def test_a_state_hubspot_already_holds_is_skipped_and_recorded() -> None:
    # GIVEN HubSpot holds 1001 SUBSCRIBED since 09:00
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T09:00:00.000Z"))
    # WHEN a newer SUBSCRIBED arrives THEN no call: unchanged, and its version is to be recorded
    plan = plan_for([write("2026-01-05T11:00:00Z")], hubspot)
    assert sent(plan) == []
    assert plan.unchanged == {"w": True}


def test_a_held_state_is_sent_when_an_older_opt_out_of_the_batch_goes_first() -> None:
    # GIVEN HubSpot holds 1001 SUBSCRIBED, and the batch brings an older opt-out and a newer SUBSCRIBED
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T09:00:00.000Z"))
    plan = plan_for([opt_out("2026-01-05T10:00:00Z"), write("2026-01-05T11:00:00Z")], hubspot)
    # THEN the write is sent after the opt-out: the opt-out changes its key first
    assert sent(plan) == [("u", "UNSUBSCRIBED"), ("w", "SUBSCRIBED")]
    assert plan.unchanged == {}


def test_an_opt_out_hubspot_already_holds_is_skipped() -> None:
    hubspot = held(wide=[portal_wide("2026-01-05T09:00:00.000Z")])
    plan = plan_for([opt_out("2026-01-05T11:00:00Z", brand=0)], hubspot)
    assert sent(plan) == []
    assert set(plan.unchanged) == {"u"}


def test_the_functions_own_earlier_write_is_not_a_hubspot_side_change() -> None:
    # GIVEN the ledger holds the function's SUBSCRIBED of 08:00, which HubSpot stamped at 12:00
    mine = write("2026-01-05T08:00:00Z", "SUBSCRIBED", mid="old")
    ledger = History({("S", "1001"): entry_of(mine, (us("2026-01-05T12:00:00.000Z"),))}, count=1)
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T12:00:00.000Z", source="Public API"))
    # WHEN an upstream UNSUBSCRIBED of 09:00 (newer than 08:00, older than the stamp) arrives
    plan = plan_for([write("2026-01-05T09:00:00Z", "UNSUBSCRIBED")], hubspot, ledger)
    # THEN it is sent: HubSpot's state is the function's own
    assert sent(plan) == [("w", "UNSUBSCRIBED")]
    assert not plan.by_hubspot


def test_a_redelivered_updates_unrecorded_write_is_not_a_hubspot_side_change() -> None:
    # GIVEN HubSpot shows SUBSCRIBED at 12:00 and the ledger knows nothing (the write timed out, applied)
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T12:00:00.000Z", source="Public API"))
    # WHEN that write comes back (a redelivery) with a newer UNSUBSCRIBED of 09:00 beside it
    plan = plan_for(
        [
            write("2026-01-05T08:00:00Z", mid="again", receive=2),
            write("2026-01-05T09:00:00Z", "UNSUBSCRIBED"),
        ],
        hubspot,
    )
    # THEN the newer update is sent, not superseded by what may be the function's own write
    assert ("w", "UNSUBSCRIBED") in sent(plan)
    assert "w" not in plan.by_hubspot


def test_a_replay_never_restores_the_functions_state_over_a_newer_hubspot_side_change() -> None:
    # GIVEN ada/1001 SUBSCRIBED through the function on day 1 (stamped then), the contact unsubscribed
    # in HubSpot on day 3
    day1 = write("2026-01-01T10:00:00Z", mid="day1")
    ledger = History({("S", "1001"): entry_of(day1, (us("2026-01-01T10:00:01.000Z"),))}, count=1)
    hubspot = held(status(1001, "UNSUBSCRIBED", "2026-01-03T10:00:00.000Z"))
    # WHEN a late, older brand opt-out arrives on day 4
    plan = plan_for([opt_out("2025-12-31T10:00:00Z", brand=0)], hubspot, ledger)
    # THEN the opt-out is sent and the day-1 SUBSCRIBED is never re-sent
    assert ("u", "UNSUBSCRIBED") in sent(plan)
    assert ("resend", "SUBSCRIBED") not in sent(plan)


def test_an_older_opt_out_restores_a_newer_hubspot_side_consent_after_it() -> None:
    # GIVEN the contact re-subscribed to 1002 in HubSpot at 12:00
    hubspot = held(status(1002, "SUBSCRIBED", "2026-01-05T12:00:00.000Z"))
    # WHEN an older portal-wide opt-out of 11:00 arrives
    plan = plan_for([opt_out("2026-01-05T11:00:00Z")], hubspot)
    # THEN it is sent, and 1002's newer SUBSCRIBED is re-sent after it (newest per key)
    assert sent(plan) == [("u", "UNSUBSCRIBED"), ("resend", "SUBSCRIBED")]


def test_subscribed_mode_checks_only_writes_that_grant_consent() -> None:
    # GIVEN HubSpot changed both keys at 12:00
    hubspot = held(
        status(1001, "UNSUBSCRIBED", "2026-01-05T12:00:00.000Z"),
        status(1002, "SUBSCRIBED", "2026-01-05T12:00:00.000Z"),
    )
    updates = [
        write("2026-01-05T11:00:00Z", mid="grant"),
        write("2026-01-05T11:00:00Z", "UNSUBSCRIBED", mid="revoke", sub=1002),
    ]
    # WHEN the check covers only consents
    plan = plan_for(updates, hubspot, mode="subscribed")
    # THEN the older SUBSCRIBED is superseded, the UNSUBSCRIBED is written as without the check
    assert set(plan.by_hubspot) == {"grant"}
    assert ("revoke", "UNSUBSCRIBED") in sent(plan)


def test_subscribed_mode_checks_a_consent_against_a_newer_portal_wide_opt_out_made_in_hubspot() -> None:
    # GIVEN the contact opted out of everything in HubSpot at 12:00
    hubspot = held(wide=[portal_wide("2026-01-05T12:00:00.000Z")])
    # WHEN an older SUBSCRIBED arrives and the check covers only consents
    plan = plan_for([write("2026-01-05T11:00:00Z", mid="grant")], hubspot, mode="subscribed")
    # THEN it is superseded by HubSpot: the opt-out covers the subscription it would grant
    assert set(plan.by_hubspot) == {"grant"}
    assert sent(plan) == []


def test_reads_keep_only_hubspots_documented_shapes() -> None:
    # GIVEN answers with malformed statuses, a far-future timestamp and a wide status that is not an opt-out
    bad = [
        {"subscriptionId": "1001", "status": "UNSUBSCRIBED", "timestamp": "2026-01-05T12:00:00Z"},
        {"subscriptionId": 1002, "status": "MAYBE", "timestamp": "2026-01-05T12:00:00Z"},
        {"subscriptionId": 1003, "status": "UNSUBSCRIBED", "timestamp": "9999-01-01T00:00:00Z"},
        {"subscriptionId": 1004, "status": "UNSUBSCRIBED", "timestamp": "yesterday"},
        {"subscriptionId": 1005, "status": "UNSUBSCRIBED", "timestamp": "2026-01-05T12:00:00Z"},
    ]
    found = held(*bad, wide=[{**portal_wide("2026-01-05T12:00:00Z"), "status": "SUBSCRIBED"}])
    # THEN only the well-formed, believable status is an entry, of origin HUBSPOT
    assert list(found) == [("S", "1005")]
    assert found[("S", "1005")].origin == HUBSPOT


def test_answers_that_are_not_read_bodies_hold_nothing() -> None:
    # GIVEN every read answer shape that is not HubSpot's (the all-fail case)
    for body in (None, [], "x", {"results": "no"}, {"results": [1, None, {"subscriberIdString": 5}]}):
        # THEN nothing is held (the contact is sent as one HubSpot knows nothing of)
        assert statuses_of(body, "EMAIL", NOW_US) == {}
        assert wide_of(body, "EMAIL", NOW_US) == {}


def test_a_status_of_the_functions_own_source_is_never_a_hubspot_side_change() -> None:
    # GIVEN HubSpot shows SUBSCRIBED at 12:00 from the API's source, unstamped (an earlier write whose
    # answer was lost, redelivered in another batch), and the function's writes carry that source
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T12:00:00.000Z", source="Public API"))
    history = merge(History(), hubspot, [], None, {"Public API"})
    # WHEN a newer upstream UNSUBSCRIBED of 09:00 arrives THEN it is sent, not superseded
    plan = build_plan({ADA: history}, [write("2026-01-05T09:00:00Z", "UNSUBSCRIBED")])
    assert sent(plan) == [("w", "UNSUBSCRIBED")]


def test_a_redelivery_never_explains_a_change_of_another_source() -> None:
    # GIVEN the CRM UI opted ada out of 1001 at 12:00, and a redelivered older opt-out is in the batch
    hubspot = held(status(1001, "UNSUBSCRIBED", "2026-01-05T12:00:00.000Z", source="CRM_UI"))
    doubt = opt_out("2026-01-05T08:00:00Z", mid="again")
    older = write("2026-01-05T11:00:00Z")
    # WHEN the function's own source is known
    history = merge(History(), hubspot, [doubt], None, {"Public API"})
    plan = build_plan({ADA: history}, [older], [doubt])
    # THEN the UI's change is HubSpot-side: the older SUBSCRIBED is superseded
    assert set(plan.by_hubspot) == {"w"}


def test_a_held_state_is_sent_when_a_re_send_before_it_may_change_its_key() -> None:
    # GIVEN the ledger's brand opt-out of 10:00, and HubSpot holding 1001 SUBSCRIBED (set at 10:30)
    ledger = History({("U", "0"): entry_of(opt_out("2026-01-05T10:00:00Z", brand=0))}, count=1)
    hubspot = held(status(1001, "SUBSCRIBED", "2026-01-05T10:30:00.000Z"))
    # WHEN the batch brings an older SUBSCRIBED of 1002 (its re-subscribe makes the opt-out be re-sent
    # after it) and a newer SUBSCRIBED of 1001
    updates = [write("2026-01-05T09:00:00Z", mid="w2", sub=1002), write("2026-01-05T11:00:00Z", mid="w1")]
    plan = plan_for(updates, hubspot, ledger)
    # THEN 1001 is written after the re-sent opt-out, not skipped as held
    assert sent(plan) == [("w2", "SUBSCRIBED"), ("resend", "UNSUBSCRIBED"), ("w1", "SUBSCRIBED")]
    assert plan.unchanged == {}


def test_after_another_invocation_recorded_meanwhile_nothing_is_skipped_as_held() -> None:
    # GIVEN HubSpot read SUBSCRIBED for 1001 before this invocation's writes, and another invocation
    # has since recorded an older portal-wide opt-out (which may have landed after the read)
    known = Known({ADA: held(status(1001, "SUBSCRIBED", "2026-01-05T09:00:00.000Z"))}, {ADA: None})
    ledger = {ADA: History({("U", "ALL"): entry_of(opt_out("2026-01-05T10:00:00Z"))}, count=1)}
    update = write("2026-01-05T11:00:00Z")
    # WHEN the newer SUBSCRIBED is planned again after the conflict (stale)
    again = build_plan(known.histories(ledger, stale=True), [update])
    # THEN it is sent after the conflict: what HubSpot held at the read says nothing now (planned
    # from the read alone, it would be skipped)
    assert sent(again) == [("w", "SUBSCRIBED")]
    assert again.unchanged == {}
    assert set(build_plan(known.histories(ledger), [update]).unchanged) == {"w"}


def test_a_state_read_before_another_invocations_recorded_write_is_never_skipped_as_held() -> None:
    # GIVEN HubSpot was read holding 1001 SUBSCRIBED (the function's write, stamped 10:00), and then,
    # before this invocation read the ledger, another invocation wrote and recorded an UNSUBSCRIBED
    # of 1001 that HubSpot stamped 10:05, after every status of the read
    read = held(status(1001, "SUBSCRIBED", "2026-01-05T10:00:00.000Z", source="Public API"))
    theirs = write("2026-01-05T08:30:00Z", "UNSUBSCRIBED", mid="theirs")
    ledger = History({("S", "1001"): entry_of(theirs, (us("2026-01-05T10:05:00.000Z"),))}, count=2)
    # WHEN a newer SUBSCRIBED of 1001 is planned
    plan = build_plan({ADA: merge(ledger, read, [], None, {"Public API"})}, [write("2026-01-05T09:00:00Z")])
    # THEN it is sent: HubSpot no longer holds what the read showed (skipped, it would stay UNSUBSCRIBED)
    assert sent(plan) == [("w", "SUBSCRIBED")]
    assert plan.unchanged == {}


def test_a_redelivery_never_explains_a_change_made_before_sqs_accepted_it() -> None:
    # GIVEN a workflow opted ada out of 1001 in HubSpot at 09:00, before SQS accepted (10:00) the
    # redelivered opt-out of this batch, and the function's own source is not known yet
    hubspot = held(status(1001, "UNSUBSCRIBED", "2026-01-05T09:00:00.000Z", source="AUTOMATION_WORKFLOW"))
    doubt = opt_out("2026-01-05T07:00:00Z", mid="again")
    history = merge(History(), hubspot, [doubt], None, set())
    # WHEN an older SUBSCRIBED of 08:00 arrives
    plan = build_plan({ADA: history}, [write("2026-01-05T08:00:00Z")], [doubt])
    # THEN the 09:00 change is HubSpot-side, not the redelivery's earlier delivery: superseded
    assert set(plan.by_hubspot) == {"w"}


@pytest.mark.parametrize(("source", "written"), [("Public API", True), ("AUTOMATION_WORKFLOW", False)])
def test_a_wide_opt_out_is_the_functions_own_when_the_statuses_it_changed_carry_the_functions_source(
    source: str, written: bool
) -> None:
    # GIVEN HubSpot holds a portal-wide opt-out of 12:00 (a wide status names no source) and 1002
    # UNSUBSCRIBED stamped at the same moment, by the function's own source ("Public API", another
    # invocation's unrecorded opt-out) or by a workflow's; the function's source is known
    at = "2026-01-05T12:00:00.000Z"
    hubspot = held(status(1002, "UNSUBSCRIBED", at, source=source), wide=[portal_wide(at)])
    update = write("2026-01-05T11:00:00Z", sub=1001)
    history = merge(History(), hubspot, [], None, {"Public API"})
    # WHEN an upstream SUBSCRIBED of 1001 from 11:00 is planned
    plan = build_plan({ADA: history}, [update])
    # THEN the function's own opt-out is no HubSpot-side change that supersedes it; a workflow's is
    assert (sent(plan) == [("w", "SUBSCRIBED")]) is written
    assert (set(plan.by_hubspot) == {"w"}) is not written


@pytest.mark.parametrize(
    ("sources", "age_s", "receive", "outcome"),
    [
        ((), 5, 1, "back"),  # the source not learned yet, a change of 5 s ago: maybe a concurrent write
        ((), 5, 3, "superseded"),  # its third receive: taken as HubSpot's
        ((), 3_600, 1, "superseded"),  # an hour old: no invocation writes unrecorded that long
        (("Public API",), 5, 1, "written"),  # the source known: the function's own, not a HubSpot change
    ],
)
def test_a_recent_change_of_an_unknown_author_sends_the_update_it_would_supersede_back(
    sources: tuple[str, ...], age_s: int, receive: int, outcome: str
) -> None:
    # GIVEN HubSpot read now, holding 1003 UNSUBSCRIBED by the API's source, stamped age_s ago
    stamp = datetime.fromtimestamp(NOW_US / 1e6 - age_s, tz=UTC).isoformat().replace("+00:00", "Z")
    hubspot = held(status(1003, "UNSUBSCRIBED", stamp, source="Public API"))
    update = write("2026-01-05T11:00:00Z", sub=1003, receive=receive)
    history = merge(History(), hubspot, [], None, set(sources), read_us=NOW_US)
    # WHEN an older upstream SUBSCRIBED of 1003 is planned
    plan = build_plan({ADA: history}, [update])
    # THEN it comes back while the change may be another invocation's unrecorded write, else it is
    # superseded by HubSpot, or written when the change is known to be the function's own
    found = {
        "back": set(plan.unconfirmed) == {"w"},
        "superseded": set(plan.by_hubspot) == {"w"},
        "written": sent(plan) == [("w", "SUBSCRIBED")],
    }
    assert [name for name, holds in found.items() if holds] == [outcome]


@pytest.mark.parametrize(("receive", "back"), [(2, True), (3, False)])
def test_a_recent_change_of_an_unknown_author_is_never_re_sent_as_a_hubspot_side_change(
    receive: int, back: bool
) -> None:
    # GIVEN HubSpot read now holding 1001 SUBSCRIBED stamped 5 s ago by the API's source (maybe
    # another invocation's unrecorded write of an older update), the function's source not known yet,
    # and the ledger's portal-wide opt-out of 10:00
    stamp = datetime.fromtimestamp(NOW_US / 1e6 - 5, tz=UTC).isoformat().replace("+00:00", "Z")
    hubspot = held(status(1001, "SUBSCRIBED", stamp, source="Public API"))
    ledger = History({("U", "ALL"): entry_of(opt_out("2026-01-05T10:00:00Z"))}, count=1)
    history = merge(ledger, hubspot, [], None, set(), read_us=NOW_US)
    # WHEN a redelivered older write of 1002 (whose doubt re-sends the opt-out) is planned
    update = write("2026-01-05T09:00:00Z", sub=1002, receive=receive)
    plan = build_plan({ADA: history}, [update], [update] if receive > 1 else [])
    # THEN before its third receive nothing is sent for ada and the update comes back; from then on the
    # change counts as HubSpot's: re-sent after the opt-out that undid it
    assert (set(plan.unconfirmed) == {"w"}) is back
    assert (sent(plan) == []) is back
    if not back:
        assert sent(plan)[-2:] == [("resend", "UNSUBSCRIBED"), ("resend", "SUBSCRIBED")]


@pytest.mark.parametrize(("age_s", "recorded"), [(5, False), (3_600, True)])
def test_a_change_of_an_unknown_author_is_never_recorded_as_a_hubspot_side_change(
    age_s: int, recorded: bool
) -> None:
    # GIVEN HubSpot holding a brand-0 opt-out stamped age_s ago, the function's source not known yet:
    # 5 s ago it may be another invocation's unrecorded re-send of an older opt-out
    stamp = datetime.fromtimestamp(NOW_US / 1e6 - age_s, tz=UTC).isoformat().replace("+00:00", "Z")
    wide = {"wideStatusType": "BUSINESS_UNIT_WIDE", "businessUnitId": 0, "status": "UNSUBSCRIBED"}
    hubspot = held(wide=[{**wide, "timestamp": stamp, "channel": "EMAIL"}])
    history = merge(History(), hubspot, [], None, set(), read_us=NOW_US)
    # WHEN the contact's history is committed after a newer write applied
    applied = entry_of(write("2026-01-05T11:00:00Z", sub=1003))
    entries = committed(history, [applied])
    # THEN an unsure change is left out (the next read judges it again, its author known by then), so
    # the ledger never holds the function's own re-send as a HubSpot-side change newer than everything;
    # a change too old to be anyone's unrecorded write is kept
    assert (("U", "0") in entries) is recorded
    assert entries[applied.key] == applied


def test_an_unsure_call_keeps_only_the_changes_that_name_another_writer() -> None:
    # GIVEN the function's writes known by their source "Public API", and HubSpot holding an hour-old
    # workflow SUBSCRIBED of 1001, a "Public API" UNSUBSCRIBED of 1002, a 1003 status without a
    # source and a brand-0 opt-out (a wide opt-out names no writer)
    an_hour_ago = datetime.fromtimestamp(NOW_US / 1e6 - 3_600, tz=UTC).isoformat().replace("+00:00", "Z")
    no_source = {k: v for k, v in status(1003, "SUBSCRIBED", an_hour_ago).items() if k != "source"}
    wide = {"wideStatusType": "BUSINESS_UNIT_WIDE", "businessUnitId": 0, "status": "UNSUBSCRIBED"}
    hubspot = held(
        status(1001, "SUBSCRIBED", an_hour_ago, source="AUTOMATION_WORKFLOW"),
        status(1002, "UNSUBSCRIBED", an_hour_ago, source="Public API"),
        no_source,
        wide=[{**wide, "timestamp": an_hour_ago, "channel": "EMAIL"}],
    )
    merged = merge(History(), hubspot, [], None, set(), read_us=NOW_US)
    # WHEN the changes an unsure call may have undone are taken from the merged history, and recorded
    kept = others_changes(merged, {"Public API"})
    recorded = committed(History(kept), ())
    # THEN only the workflow's write is kept, and the ledger records it without HubSpot's stamp (a
    # stamp in the ledger says the function wrote it)
    assert [(e.key, e.state, e.stamps, e.origin) for e in recorded.values()] == [
        (("S", "1001"), "SUBSCRIBED", (), LEDGER)
    ]


def test_an_unsure_call_keeps_nothing_when_every_change_may_be_the_functions_own() -> None:
    # GIVEN HubSpot holding a "Public API" status, one without a source and a portal-wide opt-out
    an_hour_ago = datetime.fromtimestamp(NOW_US / 1e6 - 3_600, tz=UTC).isoformat().replace("+00:00", "Z")
    no_source = {k: v for k, v in status(1003, "SUBSCRIBED", an_hour_ago).items() if k != "source"}
    hubspot = held(
        status(1001, "SUBSCRIBED", an_hour_ago, source="Public API"),
        no_source,
        wide=[portal_wide(an_hour_ago)],
    )
    # AND, before the function's source is known, a CRM_UI change stamped 5 s ago (it may be another
    # invocation's unrecorded write)
    recent = datetime.fromtimestamp(NOW_US / 1e6 - 5, tz=UTC).isoformat().replace("+00:00", "Z")
    fresh = merge(
        History(), held(status(1002, "SUBSCRIBED", recent, source="CRM_UI")), [], None, set(), read_us=NOW_US
    )
    # WHEN the changes an unsure call may have undone are taken
    known = others_changes(
        merge(History(), hubspot, [], None, {"Public API"}, read_us=NOW_US), {"Public API"}
    )
    unknown = others_changes(fresh, set())
    # THEN none is kept: each may be the function's own write
    assert known == {}
    assert unknown == {}


def test_an_environment_learns_its_own_source_from_the_ledger_before_it_writes() -> None:
    # GIVEN a fresh environment (no source learned) and HubSpot holding 1001 UNSUBSCRIBED stamped 5 s
    # ago by "Public API": another invocation's write, unrecorded, of an older update
    stamp = datetime.fromtimestamp(NOW_US / 1e6 - 5, tz=UTC).isoformat().replace("+00:00", "Z")
    known = Known(
        {ADA: held(status(1001, "UNSUBSCRIBED", stamp, source="Public API"))}, {ADA: None}, read_us=NOW_US
    )
    # AND the ledger's item for ada, recorded by an environment that knew its writes' source
    ledger = {ADA: History({}, count=1, sources=frozenset({"Public API"}))}
    # WHEN a newer SUBSCRIBED of 1001 is planned
    plan = build_plan(known.histories(ledger), [write("2026-01-05T11:00:00Z")])
    # THEN the status is known as the function's own: written, neither sent back nor superseded
    assert sent(plan) == [("w", "SUBSCRIBED")]
    assert known.sources == {"Public API"}
