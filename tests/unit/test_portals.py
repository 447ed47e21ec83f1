"""Which portal each update is for (README: Many portals): the message field, the deployment's mode,
and the refusals that keep a message from ever being written to another portal."""

from __future__ import annotations

from typing import Any

import pytest
from status_writer.config import AFTER_READS_WAIT_S, FREE_WAIT_STEP_S, ConfigurationError, Settings
from status_writer.model import Rejected, StatusUpdate, UnsubscribeAll
from status_writer.parse import parse_message
from status_writer.portals import by_portal, secret_name
from status_writer.runtime import PortalsInFlight
from status_writer.waits import WaitBudget

from tests.factories import status_body, unsubscribe_all_body
from tests.unit.helpers import message

MANY = Settings(secret_id="hubspot/portal-{portalId}")
ONE = Settings(secret_id="hubspot-token")


def parsed(body: dict[str, Any], mid: str = "m") -> StatusUpdate | UnsubscribeAll:
    item = parse_message(message(body, message_id=mid))
    assert isinstance(item, StatusUpdate | UnsubscribeAll), item
    return item


@pytest.mark.parametrize(
    ("value", "portal"), [(7, "7"), ("7", "7"), ("007", "7"), (2**63 - 1, str(2**63 - 1))]
)
def test_portal_id_is_a_positive_integer_or_its_digits(value: Any, portal: str) -> None:
    assert parsed(status_body(portalId=value)).portal_id == portal
    assert parsed(unsubscribe_all_body(portalId=value)).portal_id == portal


@pytest.mark.parametrize("value", [0, -1, "0", "", "7a", "٣", 1.5, True, [7], 2**63, "1" * 20])
def test_anything_else_is_refused_with_a_clear_reason(value: Any) -> None:
    item = parse_message(message(status_body(portalId=value)))
    assert isinstance(item, Rejected)
    assert "portalId" in item.reason


def test_a_multi_portal_deployment_groups_updates_by_portal() -> None:
    # GIVEN updates of two portals in one batch
    updates = [
        parsed(status_body(portalId=7), "a"),
        parsed(status_body(portalId="8"), "b"),
        parsed(status_body(portalId=7), "c"),
    ]
    # WHEN grouped THEN each portal has its own, none is refused
    groups, refused = by_portal(updates, MANY)
    assert {portal: [u.message.message_id for u in mine] for portal, mine in groups.items()} == {
        "7": ["a", "c"],
        "8": ["b"],
    }
    assert refused == {}


def test_without_portal_id_a_multi_portal_deployment_refuses_unless_a_default_is_set() -> None:
    update = parsed(status_body(), "a")
    _, refused = by_portal([update], MANY)
    assert "portalId is required" in refused["a"]
    groups, refused = by_portal([update], Settings(secret_id=MANY.secret_id, default_portal_id="9"))
    assert list(groups) == ["9"]
    assert refused == {}


def test_a_single_portal_deployment_never_writes_another_portals_message() -> None:
    # GIVEN one portal whose id the deployment knows
    known = Settings(secret_id="hubspot-token", default_portal_id="7")
    ours, theirs, plain = (
        parsed(status_body(portalId=7), "a"),
        parsed(status_body(portalId=8), "b"),
        parsed(status_body(), "c"),
    )
    # WHEN grouped THEN its own and unnamed messages go to its one portal; another portal's is refused
    groups, refused = by_portal([ours, theirs, plain], known)
    assert [u.message.message_id for u in groups[None]] == ["a", "c"]
    assert set(refused) == {"b"}
    # AND without a known id, every message goes to the one portal as before
    groups, refused = by_portal([ours, theirs, plain], ONE)
    assert len(groups[None]) == 3
    assert refused == {}


def test_the_secret_of_a_portal_is_the_pattern_with_its_id() -> None:
    assert MANY.multi_portal
    assert not ONE.multi_portal
    assert secret_name(MANY.secret_id, "12345") == "hubspot/portal-12345"


def test_a_default_portal_id_must_be_digits() -> None:
    with pytest.raises(ConfigurationError, match="HUBSPOT_DEFAULT_PORTAL_ID"):
        Settings.from_environment({"HUBSPOT_SECRET_ID": "s", "HUBSPOT_DEFAULT_PORTAL_ID": "acme"})
    assert (
        Settings.from_environment(
            {"HUBSPOT_SECRET_ID": "s", "HUBSPOT_DEFAULT_PORTAL_ID": "0"}
        ).default_portal_id
        is None
    )


def test_a_portals_wait_is_free_while_another_still_delivers_then_capped() -> None:
    # GIVEN a portal of several with the cap of one second
    busy = [True]
    budget = WaitBudget(most_s=1.0)
    budget.start(lambda: busy[0])
    # WHEN it waits while another portal still delivers THEN in short steps, none of them counted
    assert budget.step(5.0) == FREE_WAIT_STEP_S
    assert budget.allows(30.0)
    assert budget.waited_s == 0.0
    # WHEN the others are done THEN waits count, and past the cap its records come back (None)
    busy[0] = False
    assert budget.step(0.6) == 0.6
    assert budget.step(0.6) is None
    assert not budget.allows(0.6)
    # AND a new invocation starts afresh
    budget.start()
    assert budget.step(0.6) == 0.6


def test_a_portal_waits_a_pacing_slot_after_the_other_portals_of_its_batch_are_done() -> None:
    # GIVEN a portal of several (cap of one second) whose batch held other portals, now all done
    busy = [True]
    budget = WaitBudget(most_s=1.0)
    budget.start(lambda: busy[0])
    # WHEN it waits while another still delivers THEN freely, in steps of at most FREE_WAIT_STEP_S
    assert budget.step(5.0) == FREE_WAIT_STEP_S
    assert budget.step(0.01) == 0.01
    busy[0] = False
    # WHEN its next call is one pacing slot away THEN it waits for it: giving its records back would
    # cost each a receive (make chaos --portals 3: 40% of all retries were these)
    assert budget.step(0.2) == 0.2
    # AND a throttled portal's slot, seconds away, is past the cap: its records come back at once
    assert budget.step(5.0) is None
    assert not budget.allows(5.0)
    # AND once a read of it is answered, its calls may still wait AFTER_READS_WAIT_S (the reads' slots)
    budget.read_answered()
    assert budget.step(5.0) == 5.0
    # AND in its next batch it has its one second again
    budget.start()
    assert budget.step(0.6) == 0.6
    assert budget.step(0.6) is None


def test_a_free_step_outlasts_the_others_delivery_by_little() -> None:
    """GIVEN a portal waiting for a slot 5 s away while another delivers until 0.33 s (virtual time)
    WHEN it steps as the client does THEN it gives up within one FREE_WAIT_STEP_S of the others'
    end, at most 50 ms: the slot is past its cap, and each step of its last thread holds the others'
    next batch."""
    now = [0.0]
    budget = WaitBudget(most_s=1.0)
    budget.start(lambda: now[0] < 0.33)
    while (step := budget.step(5.0)) is not None:
        now[0] += step
    assert 0.33 <= now[0] < 0.33 + FREE_WAIT_STEP_S
    assert FREE_WAIT_STEP_S <= 0.05


def test_portals_in_flight_say_busy_only_while_another_runs_and_none_is_queued() -> None:
    # GIVEN three portals of one batch, two started (the third queued for a pool slot)
    in_flight = PortalsInFlight(3)
    in_flight.started()
    in_flight.started()
    # THEN a wait holds the queued one back: not free
    assert not in_flight.others_busy()
    # WHEN the third starts THEN waiting is free while another still runs, not once it runs alone
    in_flight.started()
    assert in_flight.others_busy()
    in_flight.finished()
    assert in_flight.others_busy()
    in_flight.finished()
    assert not in_flight.others_busy()


def test_once_a_read_is_answered_a_portal_may_wait_a_rate_limit_interval_more() -> None:
    # GIVEN a portal of several (1 s of waits per invocation) that waited 0.8 s for its first read
    budget = WaitBudget(most_s=1.0)
    budget.start()
    assert budget.step(0.8) == 0.8
    # WHEN a read of it is answered
    budget.read_answered()
    # THEN its write may wait up to AFTER_READS_WAIT_S more, not past it
    assert budget.step(AFTER_READS_WAIT_S - 0.5) == AFTER_READS_WAIT_S - 0.5
    assert budget.step(1.0) is None
    # AND the next invocation has only its 1 s until a read of its own is answered
    budget.start()
    assert budget.step(1.5) is None
