"""local/chaos/races.py: which keys invariant 1 sets apart as lost to the read-to-write race the
README names as a limit (a HubSpot-side change between an invocation's read and its write)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from local.chaos.races import raced
from local.workload.actors import ActorChange
from local.workload.workload import HUBSPOT_SIDE

KEY = ("ada@example.com", 1002, "EMAIL")
MADE = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (MADE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def change() -> ActorChange:
    return ActorChange(
        "ada@example.com",
        "status",
        "during-run",
        1002,
        "SUBSCRIBED",
        made_at=MADE,
        effects=((KEY, "SUBSCRIBED"),),
    )


def contact_call(seconds: float, route: str) -> dict[str, Any]:
    """A batch call about ada alone on ``route``."""
    return {"at": at(seconds), "route": route, "body": {"inputs": ["ada@example.com"]}}


def read(seconds: float) -> dict[str, Any]:
    return contact_call(seconds, "statuses/batch/read")


def write(seconds: float, subscription: int = 1002) -> dict[str, Any]:
    inputs = [
        {
            "subscriberIdString": "ada@example.com",
            "subscriptionId": subscription,
            "statusState": "NOT_SPECIFIED",
        }
    ]
    return {"at": at(seconds), "route": "statuses/batch/write", "body": {"inputs": inputs}}


def opt_out(seconds: float) -> dict[str, Any]:
    return contact_call(seconds, "statuses/batch/unsubscribe-all")


def test_a_change_between_a_read_and_the_next_write_of_its_key_is_raced() -> None:
    """GIVEN a read 30 ms before the HubSpot-side change and a write of its key (or an opt-out of the
    contact) 40 ms after WHEN judged THEN the key is raced"""
    assert raced(KEY, HUBSPOT_SIDE, [change()], [read(-0.03), write(0.04)], 30.0)
    assert raced(KEY, HUBSPOT_SIDE, [change()], [read(-0.03), opt_out(0.04)], 30.0)


def test_a_write_after_a_fresh_read_or_of_another_key_or_an_upstream_newest_is_no_race() -> None:
    """GIVEN a write that followed a read made after the change, a write of another subscription, no
    read before the change, or an upstream update as the key's newest WHEN judged THEN no race: the
    function knew the change, or did not write over it"""
    assert not raced(KEY, HUBSPOT_SIDE, [change()], [read(-0.03), read(0.01), write(0.04)], 30.0)
    assert not raced(KEY, HUBSPOT_SIDE, [change()], [read(-0.03), write(0.04, subscription=1001)], 30.0)
    assert not raced(KEY, HUBSPOT_SIDE, [change()], [write(0.04)], 30.0)
    assert not raced(KEY, HUBSPOT_SIDE, [change()], [read(-40.0), write(0.04)], 30.0)
    assert not raced(KEY, "m-1", [change()], [read(-0.03), write(0.04)], 30.0)


def wide_read(seconds: float) -> dict[str, Any]:
    return contact_call(seconds, "statuses/batch/unsubscribe-all/read")


def test_a_read_of_the_wide_opt_outs_alone_does_not_show_a_status_change() -> None:
    # GIVEN a status change made in HubSpot after the statuses read, and a wide read between it and the
    # write (make chaos: the invocation waited 10 s for its rate limit between the two reads)
    # THEN the key is raced: the wide read never showed the subscription's status
    assert raced(KEY, HUBSPOT_SIDE, [change()], [read(-6.0), wide_read(3.7), write(3.8)], 30.0)


def test_a_read_of_the_wide_opt_outs_shows_a_wide_opt_out_made_in_hubspot() -> None:
    # GIVEN the change is a wide opt-out made in HubSpot THEN a wide read after it would have shown it
    wide = ActorChange(
        "ada@example.com",
        "unsubscribe_all",
        "during-run",
        None,
        None,
        made_at=MADE,
        effects=((KEY, "UNSUBSCRIBED"),),
    )
    assert not raced(KEY, HUBSPOT_SIDE, [wide], [read(-6.0), wide_read(3.7), write(3.8)], 30.0)
    assert raced(KEY, HUBSPOT_SIDE, [wide], [read(-6.0), write(3.8)], 30.0)
