"""Order status writes around unsubscribe-from-all requests for the same contact. Pure: no I/O.

Within one invocation, what happened last wins, per subscriber (email, channel):
- a status write older than a portal-wide unsubscribe-all is superseded by it (the opt-out covers
  every subscription);
- a status write older than a brand-wide unsubscribe-all is sent *before* it: if the subscription is
  in that brand the opt-out then overrides it, and if it is in another brand it still applies (the
  function does not know which brand owns a subscription);
- a status write newer than every unsubscribe-all of its subscriber (a re-subscribe) is sent *after*
  them, and only if they all applied; otherwise it is retried, not sent;
- a write between two unsubscribe-alls of different brands is sent before both, which errs towards
  the opt-out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from status_writer.model import StatusUpdate, UnsubscribeAll


@dataclass(frozen=True, slots=True)
class Ordering:
    """Which writes go out before the unsubscribe-all calls, which after, and which are superseded."""

    first: list[StatusUpdate]
    then: list[StatusUpdate]
    waits_for: dict[str, list[str]]  # message id of a `then` write -> the unsubscribe-alls it follows
    superseded_by: dict[str, str]  # message id of a write -> the newer portal-wide unsubscribe-all


def order_with_unsubscribes(
    writes: Sequence[StatusUpdate], unsubscribes: Sequence[UnsubscribeAll]
) -> Ordering:
    """Split coalesced status writes around the (coalesced) unsubscribe-alls of the same subscribers."""
    by_subscriber: dict[tuple[str, str], list[UnsubscribeAll]] = {}
    for request in unsubscribes:
        by_subscriber.setdefault(request.subscriber, []).append(request)

    first: list[StatusUpdate] = []
    then: list[StatusUpdate] = []
    waits_for: dict[str, list[str]] = {}
    superseded_by: dict[str, str] = {}
    for write in writes:
        requests = by_subscriber.get(write.subscriber, [])
        newer = [request for request in requests if request.recency > write.recency]
        newer_portal_wide = [request for request in newer if request.business_unit_id is None]
        if newer_portal_wide:
            winner = max(newer_portal_wide, key=lambda request: request.recency)
            superseded_by[write.message.message_id] = winner.message.message_id
        elif newer or not requests:
            first.append(write)
        else:
            then.append(write)
            waits_for[write.message.message_id] = [request.message.message_id for request in requests]
    return Ordering(first=first, then=then, waits_for=waits_for, superseded_by=superseded_by)
