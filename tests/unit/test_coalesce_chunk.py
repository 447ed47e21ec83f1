"""coalesce (newest update per HubSpot key wins) and chunk (batch/write-sized slices, bisection)."""

from __future__ import annotations

import pytest
from status_writer.chunk import chunk, halves
from status_writer.coalesce import coalesce

from tests.unit.helpers import SENT_MS, update, updates

# --- coalesce ---------------------------------------------------------------------------------------


def test_distinct_keys_all_win_in_input_order_and_nothing_is_superseded() -> None:
    # GIVEN five updates for five contacts
    items = updates(5)
    # WHEN coalesced
    plan = coalesce(items)
    # THEN all of them are sent, in the order they came
    assert [w.message.message_id for w in plan.winners] == ["m-0", "m-1", "m-2", "m-3", "m-4"]
    assert plan.superseded_by == {}


def test_newest_occurred_at_wins_even_when_it_came_first_and_was_sent_earlier() -> None:
    # GIVEN two updates for one key; the first in the batch happened later (occurredAt)
    newer = update(
        message_id="m-newer", position=0, occurred_at="2026-01-05T10:00:05Z", sent_timestamp_ms=SENT_MS
    )
    older = update(
        message_id="m-older",
        position=1,
        occurred_at="2026-01-05T10:00:01Z",
        sent_timestamp_ms=SENT_MS + 60_000,
    )
    # WHEN coalesced
    plan = coalesce([newer, older])
    # THEN occurredAt decides, not SentTimestamp or position
    assert [w.message.message_id for w in plan.winners] == ["m-newer"]
    assert plan.superseded_by == {"m-older": "m-newer"}


def test_occurred_at_with_offsets_is_compared_in_utc() -> None:
    # 10:00+02:00 is 08:00Z, earlier than 09:00Z although it reads later
    early = update(message_id="m-early", position=1, occurred_at="2026-01-05T10:00:00+02:00")
    late = update(message_id="m-late", position=0, occurred_at="2026-01-05T09:00:00Z")
    assert coalesce([late, early]).superseded_by == {"m-early": "m-late"}


def test_without_occurred_at_the_later_sent_timestamp_wins() -> None:
    later = update(message_id="m-later", position=0, sent_timestamp_ms=SENT_MS + 1)
    earlier = update(message_id="m-earlier", position=1, sent_timestamp_ms=SENT_MS)
    plan = coalesce([later, earlier])
    assert [w.message.message_id for w in plan.winners] == ["m-later"]
    assert plan.superseded_by == {"m-earlier": "m-later"}


def test_equal_occurred_at_falls_back_to_sent_timestamp() -> None:
    first = update(
        message_id="m-a", position=0, occurred_at="2026-01-05T10:00:00Z", sent_timestamp_ms=SENT_MS + 5
    )
    second = update(
        message_id="m-b", position=1, occurred_at="2026-01-05T10:00:00Z", sent_timestamp_ms=SENT_MS
    )
    assert coalesce([first, second]).superseded_by == {"m-b": "m-a"}


def test_equal_timestamps_fall_back_to_position_in_the_batch() -> None:
    first = update(message_id="m-a", position=0)
    second = update(message_id="m-b", position=1)
    assert coalesce([first, second]).superseded_by == {"m-a": "m-b"}
    # the order they are handed in does not matter, the position does
    assert coalesce([second, first]).superseded_by == {"m-a": "m-b"}


def test_an_update_without_occurred_at_is_compared_by_its_sent_time() -> None:
    # GIVEN one update with occurredAt one second before the other's SentTimestamp, which has none
    stamped = update(message_id="m-stamped", position=1, occurred_at="2026-01-05T09:59:59Z")
    unstamped = update(message_id="m-unstamped", position=0, sent_timestamp_ms=SENT_MS)
    # THEN the later moment wins
    assert coalesce([unstamped, stamped]).superseded_by == {"m-stamped": "m-unstamped"}


def test_email_case_does_not_make_a_different_key() -> None:
    upper = update("ADA@EXAMPLE.COM", message_id="m-upper", position=0)
    lower = update("ada@example.com", message_id="m-lower", position=1)
    plan = coalesce([upper, lower])
    assert [w.message.message_id for w in plan.winners] == ["m-lower"]
    assert plan.winners[0].email == "ada@example.com"  # the winner keeps its own spelling
    assert plan.superseded_by == {"m-upper": "m-lower"}


def test_different_subscription_or_email_is_a_different_key() -> None:
    items = [
        update("ada@example.com", 1, message_id="m-0", position=0),
        update("ada@example.com", 2, message_id="m-1", position=1),
        update("bob@example.com", 1, message_id="m-2", position=2),
    ]
    plan = coalesce(items)
    assert len(plan.winners) == 3
    assert plan.superseded_by == {}


def test_a_different_channel_is_a_different_key() -> None:
    # Only EMAIL passes parse today; the key still includes the channel, as HubSpot's does.
    from dataclasses import replace

    email = update(message_id="m-0", position=0)
    other = replace(update(message_id="m-1", position=1), channel="SMS")
    assert email.key != other.key
    plan = coalesce([email, other])
    assert len(plan.winners) == 2
    assert plan.superseded_by == {}


def test_a_chain_of_duplicates_maps_every_loser_to_the_final_winner() -> None:
    # GIVEN three updates for one key arriving oldest first, then newest, then middle
    oldest = update(message_id="m-old", position=0, occurred_at="2026-01-05T10:00:00Z")
    newest = update(message_id="m-new", position=1, occurred_at="2026-01-05T10:00:10Z")
    middle = update(message_id="m-mid", position=2, occurred_at="2026-01-05T10:00:05Z")
    # WHEN coalesced
    plan = coalesce([oldest, newest, middle])
    # THEN both losers defer to the newest (not to whoever beat them first)
    assert plan.superseded_by == {"m-old": "m-new", "m-mid": "m-new"}
    assert [w.message.message_id for w in plan.winners] == ["m-new"]


def test_winners_keep_the_order_in_which_their_key_was_first_seen() -> None:
    items = [
        update("a@example.com", message_id="m-0", position=0),
        update("b@example.com", message_id="m-1", position=1),
        update("a@example.com", message_id="m-2", position=2),
        update("c@example.com", message_id="m-3", position=3),
        update("b@example.com", message_id="m-4", position=4),
    ]
    plan = coalesce(items)
    assert [w.message.message_id for w in plan.winners] == ["m-2", "m-4", "m-3"]
    assert plan.superseded_by == {"m-0": "m-2", "m-1": "m-4"}


def test_all_duplicates_leave_one_winner_and_every_other_message_superseded() -> None:
    # GIVEN ten updates for the same key (the all-duplicates case)
    items = [update(message_id=f"m-{index}", position=index) for index in range(10)]
    # WHEN coalesced
    plan = coalesce(items)
    # THEN the last one wins and every other message defers to it
    assert [w.message.message_id for w in plan.winners] == ["m-9"]
    assert plan.superseded_by == {f"m-{index}": "m-9" for index in range(9)}


def test_every_message_is_either_a_winner_or_superseded_exactly_once() -> None:
    items = [
        update(f"u{index % 4}@example.com", 1000 + index % 3, message_id=f"m-{index}", position=index)
        for index in range(30)
    ]
    plan = coalesce(items)
    winners = {w.message.message_id for w in plan.winners}
    assert winners.isdisjoint(plan.superseded_by)
    assert winners | set(plan.superseded_by) == {f"m-{index}" for index in range(30)}
    assert set(plan.superseded_by.values()) <= winners
    assert len(plan.winners) == 12


def test_nothing_in_nothing_out() -> None:
    plan = coalesce([])
    assert plan.winners == []
    assert plan.superseded_by == {}


# --- chunk ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (0, []),
        (1, [1]),
        (99, [99]),
        (100, [100]),
        (101, [100, 1]),
        (250, [100, 100, 50]),
        (300, [100, 100, 100]),
    ],
)
def test_chunks_at_the_hubspot_limit(count: int, sizes: list[int]) -> None:
    items = list(range(count))
    parts = chunk(items, 100)
    assert [len(part) for part in parts] == sizes
    assert [item for part in parts for item in part] == items  # consecutive, nothing lost or repeated


def test_chunk_of_size_one_and_of_a_tuple() -> None:
    assert chunk((1, 2, 3), 1) == [(1,), (2,), (3,)]
    assert chunk("abcde", 2) == ["ab", "cd", "e"]


@pytest.mark.parametrize("size", [0, -1, -100])
def test_chunk_size_below_one_raises(size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chunk([1, 2, 3], size)


@pytest.mark.parametrize(
    ("count", "left", "right"), [(0, 0, 0), (1, 0, 1), (2, 1, 1), (3, 1, 2), (100, 50, 50), (101, 50, 51)]
)
def test_halves_split_in_two_consecutive_parts(count: int, left: int, right: int) -> None:
    items = list(range(count))
    first, second = halves(items)
    assert (len(first), len(second)) == (left, right)
    assert list(first) + list(second) == items
