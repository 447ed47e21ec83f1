"""The ordering plan against the ledger's history (what earlier invocations applied), and the
visibility scheduler's never-raise promise."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from status_writer.entries import Entry, History, entry_of
from status_writer.model import Message, StatusUpdate, UnsubscribeAll
from status_writer.parse import parse_message
from status_writer.plan import Plan, build_plan
from status_writer.visibility import VisibilityScheduler

from tests.factories import status_body, unsubscribe_all_body
from tests.unit.helpers import message

SUBSCRIBER = ("ada@example.com", "EMAIL")


def parsed(body: dict[str, Any], message_id: str, receive_count: int = 1) -> Any:
    return parse_message(message(body, message_id=message_id, receive_count=receive_count))


def write_at(at: str, receive_count: int = 1) -> StatusUpdate:
    item = parsed(status_body("ada@example.com", 1001, occurredAt=at), "w", receive_count)
    assert isinstance(item, StatusUpdate)
    return item


def opt_out_at(at: str, brand: int | None = None, receive_count: int = 1) -> UnsubscribeAll:
    item = parsed(unsubscribe_all_body("ada@example.com", brand, occurredAt=at), "u", receive_count)
    assert isinstance(item, UnsubscribeAll)
    return item


def history(*updates: StatusUpdate | UnsubscribeAll) -> History:
    """What the ledger holds after ``updates`` applied (each the newest of its key)."""
    entries: dict[tuple[str, str], Entry] = {}
    for item in updates:
        entry = entry_of(item)
        entries[entry.key] = entry
    return History(entries=entries, count=len(updates))


def screen(
    writes: list[StatusUpdate],
    unsubscribes: list[UnsubscribeAll],
    ledger: History,
    doubts: list[StatusUpdate | UnsubscribeAll] | None = None,
) -> Plan:
    """The plan for one batch of ``ada`` against ``ledger``; doubts: the batch's redeliveries."""
    batch = [*writes, *unsubscribes]
    redelivered = [item for item in batch if item.message.receive_count > 1]
    return build_plan({SUBSCRIBER: ledger}, batch, [*redelivered, *(doubts or [])])


def already_applied(plan: Plan) -> set[str]:
    return {message_id for message_id, winner in plan.superseded.items() if winner is None}


def replayed(plan: Plan) -> set[tuple[str, str]]:
    """Contacts with history entries re-sent whatever this batch does (nothing of it is sent)."""
    return {p.contact for step in plan.steps for p in step.items if p.update is None and p.unconditional}


def test_a_write_the_ledger_holds_newer_is_already_applied_without_replay() -> None:
    w = write_at("2026-01-05T10:00:00Z")
    result = screen([w], [], history(write_at("2026-01-05T11:00:00Z")))
    assert already_applied(result) == {"w"}
    assert replayed(result) == set()


def test_a_redelivered_write_under_a_newer_brand_opt_out_is_replayed_again() -> None:
    # GIVEN the ledger holds this very write and a newer brand opt-out (an earlier replay was cut short)
    w = write_at("2026-01-05T10:00:00Z")
    record = history(w, opt_out_at("2026-01-05T11:00:00Z", 0))
    # WHEN screened THEN it is not sent again, but its subscriber is replayed
    result = screen([w], [], record)
    assert already_applied(result) == {"w"}
    assert replayed(result) == {SUBSCRIBER}


def test_a_redelivered_opt_out_older_than_later_writes_is_replayed_again() -> None:
    u = opt_out_at("2026-01-05T10:00:00Z")
    record = history(u, write_at("2026-01-05T11:00:00Z"))
    result = screen([], [u], record)
    assert already_applied(result) == {"u"}
    assert replayed(result) == {SUBSCRIBER}


def test_a_redelivered_write_the_ledger_holds_newer_replays_its_subscriber() -> None:
    # GIVEN a write delivered before (its first delivery may have reached HubSpot and died unrecorded)
    # and a ledger that holds a newer write of the same subscription
    w = write_at("2026-01-05T10:00:00Z", receive_count=2)
    record = history(write_at("2026-01-05T11:00:00Z"))
    # WHEN screened
    result = screen([w], [], record)
    # THEN it is not sent, and the newer entries are re-sent after whatever the first delivery did
    assert already_applied(result) == {"w"}
    assert replayed(result) == {SUBSCRIBER}


@pytest.mark.parametrize("with_redelivery", [False, True])
def test_a_first_delivery_replays_when_its_subscriber_has_a_redelivered_message_in_the_batch(
    with_redelivery: bool,
) -> None:
    # GIVEN a first delivery the ledger holds newer (as the winner of a batch whose older, redelivered
    # message of the same key coalescing dropped)
    w = write_at("2026-01-05T10:30:00Z")
    dropped = write_at("2026-01-05T10:00:00Z", receive_count=2)
    record = history(write_at("2026-01-05T11:00:00Z"))
    # WHEN screened with and without that redelivery
    result = screen([w], [], record, [dropped] if with_redelivery else [])
    # THEN it is not sent either way, and the subscriber is replayed only for the redelivery
    assert already_applied(result) == {"w"}
    assert replayed(result) == ({SUBSCRIBER} if with_redelivery else set())


def test_a_redelivered_write_under_a_newer_portal_opt_out_replays_its_subscriber() -> None:
    w = write_at("2026-01-05T10:00:00Z", receive_count=3)
    result = screen([w], [], history(opt_out_at("2026-01-05T11:00:00Z")))
    assert already_applied(result) == {"w"}
    assert replayed(result) == {SUBSCRIBER}


@pytest.mark.parametrize(("receive_count", "is_replayed"), [(2, True), (1, False)])
def test_an_opt_out_under_a_newer_opt_out_and_newer_writes_is_replayed_only_when_redelivered(
    receive_count: int, is_replayed: bool
) -> None:
    # GIVEN an opt-out the ledger holds a newer opt-out and a newer write for
    u = opt_out_at("2026-01-05T10:00:00Z", receive_count=receive_count)
    record = history(opt_out_at("2026-01-05T11:00:00Z"), write_at("2026-01-05T12:00:00Z"))
    # WHEN screened
    result = screen([], [u], record)
    # THEN it is never sent; a redelivery (its first delivery may have landed unrecorded) replays the
    # subscriber, a first delivery (an old update arriving late never reached HubSpot) does not
    assert already_applied(result) == {"u"}
    assert replayed(result) == ({SUBSCRIBER} if is_replayed else set())


class TimingOutSqs:
    def change_message_visibility_batch(self, **_: Any) -> dict[str, Any]:
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:9")


def test_a_read_timeout_while_postponing_is_logged_not_raised() -> None:
    # GIVEN an SQS client whose call times out (botocore's ReadTimeoutError carries no response)
    scheduler = VisibilityScheduler(TimingOutSqs())
    target = Message(
        message_id="m",
        position=0,
        body="{}",
        receipt_handle="h",
        source_arn="arn:aws:sqs:us-east-1:123456789012:q",
    )
    # WHEN a postponement is asked for THEN nothing raises and nothing counts as changed
    assert scheduler.postpone([(target, 30)]) == 0
