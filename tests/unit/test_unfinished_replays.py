"""A contact whose re-sends are not all done (deliver.unfinished_replays): which of its records come
back to finish them, and when a rejected redelivery is dead-lettered instead."""

from __future__ import annotations

from status_writer.deliver import Delivery, unfinished_replays
from status_writer.model import Failure, FailureCategory, ItemResult, StatusUpdate
from status_writer.parse import parse_message

from tests.factories import status_body
from tests.unit.helpers import message

ADA = ("ada@example.com", "EMAIL")
REJECTED = Failure(FailureCategory.HUBSPOT_REJECTED_ITEM, "unknown subscription", permanent=True)


def update(message_id: str, subscription: int, receive_count: int) -> StatusUpdate:
    body = status_body("ada@example.com", subscription, occurredAt="2026-01-05T10:00:00Z")
    item = parse_message(message(body, message_id=message_id, receive_count=receive_count))
    assert isinstance(item, StatusUpdate)
    return item


def settle(receive_count: int, last_receive: int, unfinished: set[tuple[str, str]]) -> Delivery:
    """A rejected redelivery (``r``) and an applied update (``a``) of ada, after a send that left
    ``unfinished`` contacts' re-sends undone."""
    rejected, applied = update("r", 999999, receive_count), update("a", 1001, 1)
    delivery = Delivery(results={"r": ItemResult(REJECTED), "a": ItemResult()})
    unfinished_replays([rejected, applied], [rejected], unfinished, delivery, last_receive)
    return delivery


def outcome(delivery: Delivery, message_id: str) -> FailureCategory | None:
    failure = delivery.results[message_id].failure
    return None if failure is None else failure.category


def test_a_rejected_redelivery_keeps_an_unfinished_replay_alive_past_its_third_receive() -> None:
    # GIVEN ada's replay is unfinished and her rejected redelivery is at its 7th receive of 10
    # WHEN the batch settles
    delivery = settle(receive_count=7, last_receive=10, unfinished={ADA})
    # THEN both records come back to finish the replay (the rejected one is not dead-lettered yet)
    assert outcome(delivery, "r") == FailureCategory.REPLAY_INCOMPLETE
    assert outcome(delivery, "a") == FailureCategory.REPLAY_INCOMPLETE


def test_a_rejected_redelivery_is_dead_lettered_with_its_reason_at_the_queues_last_receive() -> None:
    # GIVEN the same at the queue's last receive (SQS would move it, reasonless, on the next)
    delivery = settle(receive_count=10, last_receive=10, unfinished={ADA})
    # THEN it keeps its rejection (the function dead-letters it with that reason); the applied one
    # still comes back
    assert outcome(delivery, "r") == FailureCategory.HUBSPOT_REJECTED_ITEM
    assert outcome(delivery, "a") == FailureCategory.REPLAY_INCOMPLETE


def test_nothing_comes_back_when_every_re_send_was_done() -> None:
    # GIVEN ada's re-sends were all done
    delivery = settle(receive_count=2, last_receive=10, unfinished=set())
    # THEN the rejected one is dead-lettered and the applied one stays applied
    assert outcome(delivery, "r") == FailureCategory.HUBSPOT_REJECTED_ITEM
    assert outcome(delivery, "a") is None


def test_unset_the_bound_is_the_former_third_receive() -> None:
    # GIVEN the default bound (no MAX_RECEIVE_COUNT: 3)
    from status_writer.config import Settings

    last = Settings(secret_id="hubspot-token").max_receive_count
    # THEN a rejected redelivery comes back at its second receive, not at its third
    assert outcome(settle(2, last, {ADA}), "r") == FailureCategory.REPLAY_INCOMPLETE
    assert outcome(settle(3, last, {ADA}), "r") == FailureCategory.HUBSPOT_REJECTED_ITEM
