"""Keep only the newest update per HubSpot key. Pure: no I/O.

HubSpot stores one status per (email, subscription, channel); sending older updates for the same key
would waste calls and could even land after the newer one. Superseded messages later share the
outcome of the update that won.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from status_writer.model import Message


class Keyed(Protocol):
    @property
    def message(self) -> Message: ...
    @property
    def key(self) -> Hashable: ...
    @property
    def recency(self) -> tuple[int, int, int]: ...


U = TypeVar("U", bound=Keyed)


@dataclass(frozen=True, slots=True)
class Coalesced(Generic[U]):
    """The updates to send, in first-seen order, and which message each superseded one defers to."""

    winners: list[U]
    superseded_by: dict[str, str]  # superseded messageId -> winning messageId


def coalesce(updates: Iterable[U]) -> Coalesced[U]:
    """Newest by occurredAt, then SentTimestamp, then position in the batch."""
    newest: dict[Hashable, U] = {}
    losers: list[tuple[U, Hashable]] = []
    for update in updates:
        key = update.key
        current = newest.get(key)
        if current is None:
            newest[key] = update
        elif update.recency > current.recency:
            losers.append((current, key))
            newest[key] = update
        else:
            losers.append((update, key))
    superseded_by = {loser.message.message_id: newest[key].message.message_id for loser, key in losers}
    return Coalesced(winners=list(newest.values()), superseded_by=superseded_by)
