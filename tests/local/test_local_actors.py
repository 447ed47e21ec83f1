"""The oracle with HubSpot-side writers (local.workload.actors): a change made in HubSpot at T is an
update of version T for each key it changed, and HubSpot must end at the newest change per key across
both writers (README, How it works)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from local.hubspot_emulator import running_emulator
from local.hubspot_emulator.remote import act
from local.workload.actors import (
    BEFORE_FEED,
    DURING_RUN,
    STATUS,
    UNSUBSCRIBE_ALL,
    ActorChange,
    ActorRun,
    made,
    plan_actor_changes,
    superseded_by_hubspot,
)
from local.workload.verify import Observed, verify_state
from local.workload.workload import APPLY, Key, WorkItem, classify, expected_final_state, generate

ADA = "ada@example.com"
KEY = (ADA, 1001, "EMAIL")
PORTAL = {1001: 0, 1002: 0, 1003: 0, 2001: 1}


def update(state: str, second: int, message_id: str, sequence: int = 0, sub: int = 1001) -> WorkItem:
    body = json.dumps(
        {
            "subscriberIdString": ADA,
            "subscriptionId": sub,
            "statusState": state,
            "occurredAt": f"2026-01-01T10:00:{second:02d}.000Z",
        }
    )
    return WorkItem(body=body, expectation=classify(body, PORTAL), message_id=message_id, sequence=sequence)


def change_at(second: int, effects: Sequence[tuple[Key, str]], action: str = STATUS) -> ActorChange:
    change = ActorChange(ADA, action, BEFORE_FEED, source="CRM_UI")
    change.made_at = datetime(2026, 1, 1, 10, 0, second, tzinfo=UTC)
    change.effects = tuple(effects)
    return change


def hubspot(status: str | None, written_at: float | None = None) -> Any:
    def lookup(keys: Sequence[Key]) -> dict[Key, Observed]:
        return dict.fromkeys(keys, Observed(status, written_at))

    return lookup


def test_a_hubspot_side_change_newer_than_every_upstream_update_decides_its_key() -> None:
    """GIVEN upstream updates of a key at 10:00:01 and 10:00:02
    WHEN the contact unsubscribed in HubSpot at 10:00:05
    THEN the oracle wants the contact's UNSUBSCRIBED, decided by the HubSpot-side change"""
    items = [update("SUBSCRIBED", 1, "a"), update("SUBSCRIBED", 2, "b", 1)]
    actor = change_at(5, [(KEY, "UNSUBSCRIBED")])
    effect = expected_final_state(items, [actor])[KEY]
    assert (effect.status, effect.actor, effect.item) == ("UNSUBSCRIBED", actor, None)


def test_an_upstream_update_newer_than_the_hubspot_side_change_wins() -> None:
    """GIVEN a HubSpot-side change at 10:00:05 between upstream updates at 10:00:01 and 10:00:09
    WHEN the oracle decides the key
    THEN the 10:00:09 update wins, and only the 10:00:01 one counts as superseded by HubSpot"""
    old, new = update("SUBSCRIBED", 1, "old"), update("SUBSCRIBED", 9, "new", 1)
    actor = change_at(5, [(KEY, "UNSUBSCRIBED")])
    effect = expected_final_state([old, new], [actor])[KEY]
    assert (effect.item, effect.status) == (new, "SUBSCRIBED")
    assert superseded_by_hubspot([old, new], [actor]) == 1


def test_an_older_update_of_the_same_status_is_not_superseded_by_hubspot() -> None:
    """GIVEN an upstream UNSUBSCRIBED at 10:00:01 and a HubSpot-side UNSUBSCRIBED at 10:00:05
    THEN HubSpot already holds what the update says: it does not count as superseded by HubSpot"""
    assert (
        superseded_by_hubspot([update("UNSUBSCRIBED", 1, "m")], [change_at(5, [(KEY, "UNSUBSCRIBED")])]) == 0
    )


def test_a_hubspot_side_unsubscribe_all_is_an_update_of_every_key_it_changed() -> None:
    """GIVEN a contact with upstream SUBSCRIBED updates of 1001 and 1002 at 10:00:01
    WHEN a brand-0 unsubscribe-all is made in the emulator at 10:00:05 and recorded from its answer
    THEN its effects are every brand-0 subscription (not brand 1's 2001), and each of those keys ends
    UNSUBSCRIBED in the oracle"""
    change = ActorChange(ADA, UNSUBSCRIBE_ALL, BEFORE_FEED, business_unit_id=0)
    change.at = datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC)
    with running_emulator() as emu:
        change.record(emu.actor(change.body()))
    assert {key[1] for key, _ in change.effects} == {1001, 1002, 1003}
    items = [update("SUBSCRIBED", 1, "a", 0, 1001), update("SUBSCRIBED", 1, "b", 1, 1002)]
    final = expected_final_state(items, [change])
    assert {key[1]: e.status for key, e in final.items()} == {
        1001: "UNSUBSCRIBED",
        1002: "UNSUBSCRIBED",
        1003: "UNSUBSCRIBED",
    }
    assert (ADA, 2001, "EMAIL") not in final


def test_a_change_to_the_status_a_key_already_had_changes_nothing() -> None:
    """GIVEN 1001 SUBSCRIBED in HubSpot
    WHEN the contact sets it SUBSCRIBED again (NO_STATUS_CHANGE, the old timestamp stands)
    THEN the change is made but counts for no key"""
    change = ActorChange(ADA, STATUS, DURING_RUN, 1001, "SUBSCRIBED")
    with running_emulator() as emu:
        emu.actor({"email": ADA, "action": "status", "subscription_id": 1001, "state": "SUBSCRIBED"})
        change.record(emu.actor(change.body()))
    assert change.made_at is not None
    assert change.effects == ()


def test_a_tie_between_the_writers_accepts_either_status_for_that_key_only() -> None:
    """GIVEN an upstream SUBSCRIBED and a HubSpot-side UNSUBSCRIBED, both at 10:00:05
    WHEN HubSpot holds either one
    THEN the key passes as a tie; a status neither wrote still fails"""
    items = [update("SUBSCRIBED", 5, "m")]
    actor = change_at(5, [(KEY, "UNSUBSCRIBED")])
    for status in ("SUBSCRIBED", "UNSUBSCRIBED"):
        check = verify_state(items, hubspot(status), {"m": (0, 1)}, actors=[actor])
        assert (check.mismatches, check.ties_accepted) == ([], 1 if status == "UNSUBSCRIBED" else 0)
    assert len(verify_state(items, hubspot("NOT_SPECIFIED"), {"m": (0, 1)}, actors=[actor]).mismatches) == 1


def test_an_api_write_over_a_newer_hubspot_side_change_is_a_stale_overwrite() -> None:
    """GIVEN a HubSpot-side UNSUBSCRIBED at 10:00:05, newer than the upstream SUBSCRIBED at 10:00:01
    WHEN HubSpot holds SUBSCRIBED written after the change (the function wrote the older update)
    THEN the key fails as a stale overwrite naming the HubSpot-side change"""
    actor = change_at(5, [(KEY, "UNSUBSCRIBED")])
    written = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    check = verify_state(
        [update("SUBSCRIBED", 1, "m")], hubspot("SUBSCRIBED", written), {"m": (0, 1)}, actors=[actor]
    )
    (mismatch,) = check.mismatches
    assert (mismatch.expected, mismatch.actual, mismatch.stale_overwrite) == (
        "UNSUBSCRIBED",
        "SUBSCRIBED",
        True,
    )
    assert mismatch.message_id == "hubspot-side-change"


def test_restoring_the_hubspot_side_state_after_an_older_unsubscribe_all_is_no_mismatch() -> None:
    """GIVEN a HubSpot-side SUBSCRIBED at 10:00:05 and an older upstream unsubscribe-all at 10:00:01
    WHEN the function wrote the unsubscribe-all and then re-sent SUBSCRIBED (a later API write)
    THEN HubSpot holds the newest state: nothing fails and nothing counts as a stale overwrite"""
    body = json.dumps(
        {"action": "UNSUBSCRIBE_ALL", "subscriberIdString": ADA, "occurredAt": "2026-01-01T10:00:01Z"}
    )
    opt_out = WorkItem(body=body, expectation=classify(body, PORTAL), message_id="all")
    actor = change_at(5, [(KEY, "SUBSCRIBED")])
    written = datetime(2026, 12, 1, tzinfo=UTC).timestamp()

    def lookup(keys: Sequence[Key]) -> dict[Key, Observed]:
        return {k: Observed("SUBSCRIBED" if k == KEY else "UNSUBSCRIBED", written) for k in keys}

    check = verify_state([opt_out], lookup, {"all": (0, 1)}, actors=[actor])
    assert (check.checked, check.mismatches) == (4, [])


def test_the_plan_touches_the_asked_share_of_contacts_with_both_kinds_and_both_actions() -> None:
    """GIVEN a generated workload of 3,000 messages
    WHEN changes are planned for 10 % of its contacts
    THEN there is one per chosen contact, both kinds and both actions occur, every before-feed time
    lies strictly inside its keys' occurredAt range and equals none of them, and the plan repeats"""
    items = generate(3000, seed=4, subscriptions=PORTAL).items
    changes = plan_actor_changes(items, ratio=0.1, seed=4, portal=PORTAL)
    contacts = {
        i.expectation.email for i in items if i.expectation.outcome == APPLY and i.expectation.occurred_at
    }
    assert len(changes) == round(len(contacts) * 0.1)
    assert len({c.email for c in changes}) == len(changes)
    assert {c.kind for c in changes} == {BEFORE_FEED, DURING_RUN}
    assert {c.action for c in changes} == {STATUS, UNSUBSCRIBE_ALL}
    inside = 0
    for change in (c for c in changes if c.kind == BEFORE_FEED and c.action == STATUS):
        assert change.at is not None
        moments = [
            i.expectation.occurred_at
            for i in items
            if any(k == (change.email, change.subscription_id, "EMAIL") for k, _ in i.expectation.effects)
        ]
        assert change.at not in moments
        inside += min(m for m in moments if m) < change.at < max(m for m in moments if m)
    assert inside > 0
    assert [c.body() for c in plan_actor_changes(items, ratio=0.1, seed=4, portal=PORTAL)] == [
        c.body() for c in changes
    ]
    assert plan_actor_changes(items, ratio=0, seed=4, portal=PORTAL) == []


def test_the_run_makes_before_feed_changes_first_and_the_others_as_the_feed_progresses() -> None:
    """GIVEN a plan with before-feed and during-run changes, and an emulator
    WHEN the before-feed changes are made, then the feed's share goes from 0 to 1
    THEN every change is made over HTTP, the before-feed ones at their planned time and the others
    at HubSpot's now"""
    items = generate(600, seed=2, subscriptions=PORTAL).items
    changes = plan_actor_changes(items, ratio=0.2, seed=2, portal=PORTAL)
    share = [0.0]
    with running_emulator() as emu:
        run = ActorRun(changes, lambda body: act(emu.base_url, body))
        run.before_feed()
        assert all(c.made_at == c.at for c in changes if c.kind == BEFORE_FEED)
        assert all(c.made_at is None for c in changes if c.kind == DURING_RUN)
        run.start(lambda: share[0])
        share[0] = 1.0
        run.stop()
    assert run.errors == []
    assert len(made(changes)) == len(changes)
    now = datetime.now(UTC)
    assert all(c.made_at and (now - c.made_at).total_seconds() < 60 for c in changes if c.kind == DURING_RUN)


def test_a_refused_change_is_reported_and_made_nowhere() -> None:
    """GIVEN a change HubSpot refuses (an unknown subscription)
    WHEN the run makes it
    THEN it carries the error, the run lists it, and it is not among the changes made"""
    change = ActorChange(ADA, STATUS, BEFORE_FEED, 999999, "SUBSCRIBED")
    with running_emulator() as emu:
        run = ActorRun([change], lambda body: act(emu.base_url, body))
        run.before_feed()
    assert change.error is not None
    assert "400" in change.error
    assert len(run.errors) == 1
    assert made([change]) == []
