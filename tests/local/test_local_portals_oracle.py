"""The multi-portal workload and its oracle (local/workload/workload.py, portal_ids.py,
portal_checks.py): contacts spread over portals, `portalId` judged by the multi-portal contract, and
each portal judged in its own emulator state and by its own request log (real HTTP to the emulator)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from local.hubspot_emulator import Emulator, PortalSpec, running_emulator
from local.hubspot_emulator.remote import act
from local.workload.actors import ActorRun, plan_actor_changes
from local.workload.portal_checks import check_portals, named_contacts
from local.workload.workload import APPLY, DEAD_LETTER, INVALID, WorkItem, classify, generate

PORTAL = {1001: 0, 1002: 0, 1003: 0, 2001: 1}
A, B, C = 101, 202, 303
TOKENS = {A: "pat-a", B: "pat-b"}
WRITE = "/communication-preferences/v4/statuses/batch/write"


def _update(**extra: object) -> str:
    body = {"subscriberIdString": "ada@example.com", "subscriptionId": 1001, "statusState": "SUBSCRIBED"}
    return json.dumps({**body, **extra})


def test_each_contact_belongs_to_one_portal_and_every_message_names_it() -> None:
    """GIVEN a workload over three portals
    WHEN it is generated
    THEN every address's parseable messages carry one and the same portalId, the addresses are spread
    over all three, and the oracle puts each message in the portal it names."""
    workload = generate(900, seed=4, portals=[A, B, C])
    portals_of: dict[str, set[int]] = {}
    for item in workload.items:
        try:
            data = json.loads(item.body)
        except ValueError:
            continue  # the truncated invalid body carries nothing
        assert "portalId" in data
        portal = int(data["portalId"])
        assert item.expectation.portal == portal
        address = str(data.get("subscriberIdString", "")).lower()
        portals_of.setdefault(address, set()).add(portal)
    assert all(len(portals) == 1 for portals in portals_of.values())
    counts = Counter(next(iter(p)) for a, p in portals_of.items() if not a.startswith("broken"))
    assert set(counts) == {A, B, C}
    assert max(counts.values()) - min(counts.values()) <= 2
    spellings = {
        type(json.loads(i.body)["portalId"]) for i in workload.items if i.body.startswith('{"portalId')
    }
    assert spellings == {int, str}  # the contract's two spellings


def test_the_missing_portal_ratio_leaves_portal_id_out_and_those_are_invalid() -> None:
    """GIVEN a multi-portal workload with a missing-portal ratio of 0.1, and one with the default 0
    WHEN they are generated
    THEN about a tenth of the first lacks portalId, each such message is INVALID_MESSAGE, and with 0
    only the truncated invalid bodies lack it."""
    with_missing = generate(2000, seed=2, portals=[A, B], missing_portal_ratio=0.1)
    lacking = [i for i in with_missing.items if '"portalId"' not in i.body]
    assert 0.07 * 2000 < len(lacking) < 0.13 * 2000
    assert all(i.expectation == classify(i.body, multi_portal=True) for i in lacking)
    assert all(i.expectation.outcome == DEAD_LETTER and i.expectation.reason == INVALID for i in lacking)
    default = generate(2000, seed=2, portals=[A, B])
    assert all(i.expectation.reason == INVALID for i in default.items if '"portalId"' not in i.body)
    with pytest.raises(ValueError, match="missing_portal_ratio"):
        generate(10, portals=[A, B], missing_portal_ratio=2)


@pytest.mark.parametrize(
    ("value", "portal"),
    [(7, 7), ("12345678", 12345678), (0, None), (-3, None), ("12a", None), (True, None), (1.5, None)],
)
def test_the_oracle_takes_a_portal_id_as_the_contract_spells_it(value: object, portal: int | None) -> None:
    """GIVEN a valid update whose portalId is an integer, a string of digits, or something else
    WHEN the oracle classifies it for a multi-portal deployment
    THEN a positive integer or digit string applies in that portal; anything else is INVALID_MESSAGE."""
    expectation = classify(_update(portalId=value), PORTAL, multi_portal=True)
    if portal is None:
        assert (expectation.outcome, expectation.reason) == (DEAD_LETTER, INVALID)
    else:
        assert expectation.outcome == APPLY
        assert expectation.portal == portal


def test_without_a_portal_id_only_a_default_portal_saves_a_message() -> None:
    """GIVEN an update without portalId
    WHEN classified for a multi-portal deployment without a default, with one, and for one portal
    THEN INVALID_MESSAGE, then applied in the default portal, then applied as today (no portal)."""
    body = _update()
    assert classify(body, PORTAL, multi_portal=True).reason == INVALID
    assert classify(body, PORTAL, multi_portal=True, default_portal=B).portal == B
    single = classify(body, PORTAL)
    assert single.outcome == APPLY
    assert single.portal is None


def test_a_body_that_repeats_a_field_stays_invalid_with_a_portal_id() -> None:
    """GIVEN a multi-portal update that names statusState twice (a poison body of make chaos)
    WHEN the oracle classifies it for a multi-portal deployment
    THEN it is INVALID_MESSAGE, as for one portal: taking portalId out must not re-encode the repeat away."""
    repeat = ', "statusState": "UNSUBSCRIBED"}'
    assert classify(_update()[:-1] + repeat, PORTAL).reason == INVALID
    body = _update(portalId=A)[:-1] + repeat
    expectation = classify(body, PORTAL, multi_portal=True)
    assert (expectation.outcome, expectation.reason) == (DEAD_LETTER, INVALID)
    assert expectation.portal == A


@pytest.fixture
def two() -> Iterator[Emulator]:
    with running_emulator(portals=[PortalSpec(p, (t,)) for p, t in TOKENS.items()]) as emulator:
        yield emulator


def _sent(body: str, sequence: int) -> WorkItem:
    item = WorkItem(body, classify(body, PORTAL, multi_portal=True), sequence=sequence)
    item.message_id, item.sent_at = f"m{sequence}", 1_700_000_000.0 + sequence
    return item


def _write(emulator: Emulator, token: str, email: str, state: str) -> None:
    item = {"subscriberIdString": email, "subscriptionId": 1001, "statusState": state, "channel": "EMAIL"}
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(emulator.base_url + WRITE, json={"inputs": [item]}, headers=headers, timeout=5)
    assert response.status_code == 200


def _items() -> list[WorkItem]:
    return [
        _sent(_update(subscriberIdString="ada@example.com", portalId=A), 0),
        _sent(_update(subscriberIdString="bo@example.com", statusState="UNSUBSCRIBED", portalId=str(B)), 1),
    ]


def _check(emulator: Emulator) -> dict[int, dict[str, object]]:
    checks = check_portals(
        _items(), emulator, TOKENS, windows={}, dead_lettered=set(), sent_ms={}, skip=set()
    )
    return {check.portal: {**check.to_dict(), "samples": check.samples} for check in checks}


def test_portals_written_each_with_its_own_token_end_right(two: Emulator) -> None:
    """GIVEN ada's update for portal A and bo's for portal B
    WHEN each is written with its own portal's token
    THEN both portals end right: their keys at the newest update, every call with their own token."""
    _write(two, TOKENS[A], "ada@example.com", "SUBSCRIBED")
    _write(two, TOKENS[B], "bo@example.com", "UNSUBSCRIBED")
    checks = _check(two)
    assert checks[A]["ok"] is True
    assert checks[B]["ok"] is True
    assert checks[A]["keys_checked"] == 1
    assert checks[B]["requests"] == 1


def test_a_write_with_the_wrong_portals_token_fails_both_portals(two: Emulator) -> None:
    """GIVEN ada's update for portal A and bo's for portal B
    WHEN bo's update is written with portal A's token (the function picked the wrong secret)
    THEN B's key is not at its newest (B's state holds nothing), and A's log shows a call naming
    another portal's contact: neither portal ended right."""
    _write(two, TOKENS[A], "ada@example.com", "SUBSCRIBED")
    _write(two, TOKENS[A], "bo@example.com", "UNSUBSCRIBED")
    checks = _check(two)
    assert checks[B]["mismatches"] == 1
    assert checks[B]["ok"] is False
    assert checks[A]["foreign_contact_calls"] == 1
    assert checks[A]["ok"] is False


def test_a_call_without_the_portals_token_is_counted_against_the_first_portal(two: Emulator) -> None:
    """GIVEN both portals written right
    WHEN one more call carries a token no portal knows (it lands, as a 401, in the first portal)
    THEN portal A counts one call without its token and does not end right."""
    _write(two, TOKENS[A], "ada@example.com", "SUBSCRIBED")
    _write(two, TOKENS[B], "bo@example.com", "UNSUBSCRIBED")
    httpx.post(two.base_url + WRITE, json={"inputs": []}, headers={"Authorization": "Bearer x"}, timeout=5)
    checks = _check(two)
    assert checks[A]["foreign_token_calls"] == 1
    assert checks[A]["ok"] is False
    assert checks[B]["ok"] is True


def test_named_contacts_reads_paths_and_inputs() -> None:
    """GIVEN logged calls naming contacts in their path, their write inputs and their read inputs
    WHEN the contacts they name are read
    THEN each address is found, lowercased."""
    assert named_contacts({"path": "/communication-preferences/v4/statuses/Ada%40x.com", "body": None}) == {
        "ada@x.com"
    }
    assert named_contacts({"path": WRITE, "body": {"inputs": [{"subscriberIdString": "Bo@x.com"}]}}) == {
        "bo@x.com"
    }
    assert named_contacts({"path": "/x/statuses/batch/read", "body": {"inputs": ["cy@x.com"]}}) == {
        "cy@x.com"
    }


def test_hubspot_side_changes_are_made_in_the_contacts_own_portal(two: Emulator) -> None:
    """GIVEN a two-portal workload and a HubSpot-side change for every contact
    WHEN the changes are made through the control API
    THEN each change's contact is one of its portal's, and its status is in that portal's state only."""
    workload = generate(60, seed=3, portals=[A, B])
    changes = plan_actor_changes(workload.items, ratio=1.0, seed=3, portal=PORTAL)
    run = ActorRun(
        changes, lambda body: act(two.base_url, body), lambda body, p: act(two.base_url, body, portal=p)
    )
    for change in changes:
        run._make(change)
    assert not run.errors
    for change in changes:
        assert change.portal in (A, B)
        other = B if change.portal == A else A
        for (email, subscription, channel), _status in change.effects:
            assert two.portal(change.portal).status(email, subscription, channel) is not None
            assert two.portal(other).status(email, subscription, channel) is None
