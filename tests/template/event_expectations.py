"""What processing each file in events/ must do, written out by hand from the records' contents.

Positions index the file's Records list. `invalid` records fail local validation; `rejected_by_hubspot`
records are well-formed but HubSpot refuses them (subscription 9999 does not exist). Both end in the
dead-letter queue. `final` is the newest update per (email, subscriptionId): occurredAt first, then
SentTimestamp, then position in the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


@dataclass(frozen=True)
class EventExpectation:
    final: dict[tuple[str, int], str]
    invalid: frozenset[int] = frozenset()
    rejected_by_hubspot: frozenset[int] = frozenset()
    fifo: bool = False
    envelope: str | None = None  # "sns" or "eventbridge"

    @property
    def dead_lettered(self) -> frozenset[int]:
        return self.invalid | self.rejected_by_hubspot


EXPECTATIONS: dict[str, EventExpectation] = {
    "sqs-batch.json": EventExpectation(
        final={
            ("ada@example.com", 1001): "SUBSCRIBED",
            ("ada@example.com", 1002): "UNSUBSCRIBED",
            ("grace@example.com", 1001): "SUBSCRIBED",
            ("grace@example.com", 1003): "NOT_SPECIFIED",
            ("alan@example.com", 1002): "SUBSCRIBED",
            ("katherine@example.com", 1003): "UNSUBSCRIBED",
        },
    ),
    "sqs-invalid-and-duplicates.json": EventExpectation(
        final={
            ("ada@example.com", 1001): "UNSUBSCRIBED",  # 0 older, 1 and 2 the same update sent twice
            ("grace@example.com", 1002): "UNSUBSCRIBED",  # 3 newer by occurredAt although 4 came later
            ("alan@example.com", 1003): "SUBSCRIBED",  # 11
        },
        # 5 not JSON, 6 statusState missing, 7 unknown status, 8 not an email, 9 misspelled field
        invalid=frozenset({5, 6, 7, 8, 9}),
        rejected_by_hubspot=frozenset({10}),
    ),
    "sqs-fifo.json": EventExpectation(
        final={
            ("ada@example.com", 1001): "UNSUBSCRIBED",  # sequence order within group contact-ada
            ("ada@example.com", 1003): "SUBSCRIBED",
            ("grace@example.com", 1002): "NOT_SPECIFIED",  # sequence order within group contact-grace
        },
        fifo=True,
    ),
    "sqs-sns-wrapped.json": EventExpectation(
        final={
            ("ada@example.com", 1002): "SUBSCRIBED",
            ("grace@example.com", 1003): "UNSUBSCRIBED",
            ("alan@example.com", 1001): "SUBSCRIBED",
        },
        envelope="sns",
    ),
    "sqs-eventbridge-wrapped.json": EventExpectation(
        final={
            ("katherine@example.com", 1001): "SUBSCRIBED",
            ("katherine@example.com", 1002): "UNSUBSCRIBED",
            ("grace@example.com", 1001): "NOT_SPECIFIED",
        },
        envelope="eventbridge",
    ),
    "sqs-unsubscribe-all.json": EventExpectation(
        final={
            # 1 opts ada out of every subscription (portal-wide), superseding 0; 2 re-subscribes to
            # 1002 afterwards, so it is sent after the opt-out
            ("ada@example.com", 1001): "UNSUBSCRIBED",
            ("ada@example.com", 1002): "SUBSCRIBED",
            ("ada@example.com", 1003): "UNSUBSCRIBED",
            ("ada@example.com", 2001): "UNSUBSCRIBED",
            # 3 opts grace out of brand 0; 4 (older, subscription 2001 of brand 1) goes out before it
            ("grace@example.com", 1001): "UNSUBSCRIBED",
            ("grace@example.com", 1002): "UNSUBSCRIBED",
            ("grace@example.com", 1003): "UNSUBSCRIBED",
            ("grace@example.com", 2001): "SUBSCRIBED",
        },
    ),
}


def load_event(name: str) -> dict[str, Any]:
    """One sample event from events/."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event
