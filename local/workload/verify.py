"""The end-of-run checks: nothing in flight, nothing lost, and HubSpot holds the newest update per key.

- In flight: visible + not visible + delayed messages left in every source queue shard.
- Dead letters: the DLQ is read completely (local.aws.queues.read_dead_letters).
- Lost: a sent message that was neither deleted after a successful invocation nor moved to the DLQ by
  SQS (this includes anything still queued), plus a message the oracle says must be dead-lettered that
  is not in the DLQ.
- State: for every key, HubSpot's status equals the newest applicable update (see
  local.workload.expected_final_state). A mismatch that a batch without the newest update wrote (after
  the batch with it) is flagged ``stale_overwrite``: delivery order the function did not undo. Any
  other mismatch means a write went wrong. Either fails the run unless reordering is tolerated.
- Ties: the function orders a key's updates by occurredAt (or SentTimestamp), then SentTimestamp, then,
  within one invocation, position in the batch (README, Outcomes). Two newest updates with the same
  occurredAt-or-SentTimestamp and SentTimestamp that were settled in different invocations have no
  order the function can know, so either one's status is accepted for that key (and only for it); the
  run reports how many keys it accepted that way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from local.aws.queues import DeadLetters
from local.workload.workload import (
    APPLY,
    DEAD_LETTER,
    Effect,
    HubSpotChange,
    Key,
    WorkItem,
    expected_final_state,
    version_us,
)

NOT_SPECIFIED = "NOT_SPECIFIED"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Observed:
    """HubSpot's stored status for a key, and when it last changed (epoch seconds) if it says."""

    status: str | None
    written_at: float | None = None


Window = tuple[float, float]  # when a batch's invocation started and ended (epoch seconds)
StatusLookup = Callable[[Sequence[Key]], dict[Key, Observed]]
WRITE_TIME_SLACK_S = 0.05


@dataclass
class StateMismatch:
    """One key whose HubSpot status is not the newest update's.

    ``stale_overwrite``: the status HubSpot holds was written by a batch that did not carry the newest
    update, after the batch that did: SQS delivered out of order and the function (its ordering
    ledger) did not put the newest back. Otherwise a write went wrong.
    """

    key: Key
    expected: str
    actual: str | None
    message_id: str
    stale_overwrite: bool
    portal: int | None = None  # multi-portal: the portal whose state holds the key

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": list(self.key),
            "expected": self.expected,
            "actual": self.actual,
            "message_id": self.message_id,
            "stale_overwrite": self.stale_overwrite,
        }
        if self.portal is not None:
            out["portal"] = self.portal
        return out


@dataclass
class StateCheck:
    """HubSpot's state against the newest updates: keys checked, mismatches, and how many keys were
    accepted at either of two updates the function cannot order."""

    checked: int
    mismatches: list[StateMismatch]
    ties_accepted: int = 0


def check_state(
    items: Iterable[WorkItem],
    lookup: StatusLookup,
    windows: Mapping[str, Window],
    dead_lettered: set[str] | None = None,
    actors: Sequence[HubSpotChange] = (),
) -> tuple[int, list[StateMismatch]]:
    """`verify_state` as (keys checked, mismatches)."""
    result = verify_state(items, lookup, windows, dead_lettered, actors=actors)
    return result.checked, result.mismatches


def verify_state(
    items: Iterable[WorkItem],
    lookup: StatusLookup,
    windows: Mapping[str, Window],
    dead_lettered: set[str] | None = None,
    *,
    sent_ms: Mapping[str, int] | None = None,
    skip: set[Key] | None = None,
    actors: Sequence[HubSpotChange] = (),
) -> StateCheck:
    """Compare HubSpot's status per key with the newest change's: a sent message's or, with `actors`,
    a change made in HubSpot itself (README, How it works: the newest change per key across both
    writers).

    `windows` maps the messageId of every message deleted after a successful invocation to that
    invocation's (start, end); `dead_lettered` holds ids in the DLQ, which never reached HubSpot;
    `sent_ms` is SQS's SentTimestamp per messageId as the function saw it (else the send time);
    `skip` are keys not to check (their newest update has not been delivered yet).
    """
    sent = [item for item in items if item.message_id]
    final = expected_final_state(sent, actors)
    newest = {key: effect for key, effect in final.items() if key not in (skip or ())}
    observed = lookup(list(newest))
    touching: dict[Key, list[WorkItem]] = {}
    for item in sent:
        for key, _ in item.expectation.effects:
            touching.setdefault(key, []).append(item)
    mismatches: list[StateMismatch] = []
    ties = 0
    for key, effect in newest.items():
        seen = observed.get(key, Observed(None))
        status = seen.status or NOT_SPECIFIED  # never written reads as NOT_SPECIFIED
        if status == effect.status:
            continue
        mine = touching.get(key, [])
        either = unordered_tie(key, mine, windows, dead_lettered or set(), sent_ms or {})
        if status in either | actor_tie(key, effect, mine, actors, dead_lettered or set()):
            ties += 1
            continue
        if effect.item is None:
            stale = overwrote_hubspot_change(effect, seen)
        else:
            stale = is_stale_overwrite(
                key,
                mine,
                newest=effect.item,
                seen=seen,
                windows=windows,
                dead_lettered=dead_lettered or set(),
            )
        mismatches.append(StateMismatch(key, effect.status, seen.status, effect.message_id, stale))
    return StateCheck(len(newest), mismatches, ties)


def actor_tie(
    key: Key,
    effect: Effect,
    items: Sequence[WorkItem],
    actors: Sequence[HubSpotChange],
    dead_lettered: set[str],
) -> set[str]:
    """The statuses `key` may end at when its newest change ties with a change of the other writer:
    an upstream update and a HubSpot-side change of the same version have no order the contract
    gives, so either status is accepted (and only for that key)."""
    if effect.actor is not None:
        top = effect.actor.version_us
    elif effect.item is not None:
        top = version_us(effect.item)
    else:
        return set()
    upstream = {
        status
        for item in items
        if item.expectation.outcome == APPLY
        and item.message_id not in dead_lettered
        and version_us(item) == top
        for k, status in item.expectation.effects
        if k == key
    }
    hubspot = {
        status for actor in actors if actor.version_us == top for k, status in actor.effects if k == key
    }
    return upstream | hubspot if upstream and hubspot else set()


def overwrote_hubspot_change(effect: Effect, seen: Observed) -> bool:
    """True when the newest change of a key was made in HubSpot and HubSpot now holds another status
    written after it: an API write put an older upstream update over the newer HubSpot-side change.
    (A write that carries the HubSpot-side state itself, e.g. the function restoring it after an older
    upstream unsubscribe-all, leaves the key at its newest state and is no mismatch at all.)"""
    assert effect.actor is not None
    return seen.written_at is not None and seen.written_at * 1_000_000 > effect.actor.version_us


def function_version(item: WorkItem, sent_ms: Mapping[str, int]) -> tuple[int, int]:
    """The order the function knows across invocations: occurredAt in microseconds (or SentTimestamp),
    then SentTimestamp in milliseconds (README, Outcomes: the ordering ledger's version)."""
    sent = sent_ms.get(item.message_id, round((item.sent_at or 0.0) * 1000))
    occurred = item.expectation.occurred_at
    return ((occurred - _EPOCH) // _MICROSECOND if occurred else sent * 1000, sent)


def unordered_tie(
    key: Key,
    items: Sequence[WorkItem],
    windows: Mapping[str, Window],
    dead_lettered: set[str],
    sent_ms: Mapping[str, int],
) -> set[str]:
    """The statuses `key` may end at when its newest updates tie in `function_version` and were
    settled in different invocations (each invocation's own newest, by position, is one candidate);
    empty when the function can order them."""
    applicable = [
        item for item in items if item.expectation.outcome == APPLY and item.message_id not in dead_lettered
    ]
    if len(applicable) < 2:
        return set()
    versions = {item.message_id: function_version(item, sent_ms) for item in applicable}
    top = max(versions.values())
    by_invocation: dict[Window | None, list[WorkItem]] = {}
    for item in applicable:
        if versions[item.message_id] == top:
            by_invocation.setdefault(windows.get(item.message_id), []).append(item)
    if len(by_invocation) < 2:
        return set()  # one invocation: position in its batch decides, the oracle's order
    return {
        dict(max(group, key=lambda item: item.sequence).expectation.effects)[key]
        for group in by_invocation.values()
    }


def is_stale_overwrite(
    key: Key,
    items: Sequence[WorkItem],
    *,
    newest: WorkItem,
    seen: Observed,
    windows: Mapping[str, Window],
    dead_lettered: set[str],
) -> bool:
    """True when a batch without the newest message for `key` wrote what HubSpot holds, after (or
    while) the batch with the newest message ran."""
    batches: dict[Window, list[WorkItem]] = {}
    for item in items:
        if item.expectation.outcome == DEAD_LETTER or item.message_id in dead_lettered:
            continue
        window = windows.get(item.message_id)
        if window is not None:
            batches.setdefault(window, []).append(item)
    newest_window = windows.get(newest.message_id)
    if not batches or newest_window is None:
        return False
    if seen.written_at is not None:
        writers = [
            w for w in batches if w[0] - WRITE_TIME_SLACK_S <= seen.written_at <= w[1] + WRITE_TIME_SLACK_S
        ]
    else:
        writers = [max(batches, key=lambda w: w[1])]
    for window in writers:
        winner = expected_final_state(batches[window]).get(key)
        if (
            window != newest_window
            and winner is not None
            and winner.status == (seen.status or NOT_SPECIFIED)
            and newest_window[0] <= window[1]
        ):
            return True
    return False


def key_history(
    key: Key,
    items: Iterable[WorkItem],
    lookup: StatusLookup,
    windows: Mapping[str, Window],
    dead_lettered: set[str],
) -> dict[str, Any]:
    """Everything known about one key, for a person to read: HubSpot's status and write time, and
    every message that touched the key with its time, its batch's window and whether it was dead-lettered."""
    seen = lookup([key]).get(key, Observed(None))
    touching = [item for item in items if any(k == key for k, _ in item.expectation.effects)]
    return {
        "key": list(key),
        "hubspot": {"status": seen.status, "written_at": seen.written_at},
        "messages": [
            {
                "message_id": item.message_id,
                "status": dict(item.expectation.effects)[key],
                "occurred_at": item.expectation.occurred_at.isoformat()
                if item.expectation.occurred_at
                else None,
                "sent_at": item.sent_at,
                "batch_window": windows.get(item.message_id),
                "dead_lettered": item.message_id in dead_lettered,
                "body": item.body,
            }
            for item in touching
        ],
    }


def lost_messages(items: Iterable[WorkItem], deleted: set[str], letters: DeadLetters) -> dict[str, list[str]]:
    """Sent messages unaccounted for, by why: ``unsettled`` (never deleted nor redriven) and
    ``missing_dead_letter`` (the oracle says DLQ, and it is not there)."""
    unsettled: list[str] = []
    missing: list[str] = []
    in_dlq = letters.ids
    for item in items:
        if not item.message_id:
            continue
        if item.message_id not in deleted and item.message_id not in letters.redriven:
            unsettled.append(item.message_id)
        elif item.expectation.outcome == DEAD_LETTER and item.message_id not in in_dlq:
            missing.append(item.message_id)
    return {"unsettled": unsettled, "missing_dead_letter": missing}


def unexpected_dead_letters(items: Iterable[WorkItem], letters: DeadLetters) -> list[str]:
    """Messages the oracle says should apply that ended in the DLQ (e.g. retries exhausted)."""
    in_dlq = letters.ids
    return [i.message_id for i in items if i.message_id in in_dlq and i.expectation.outcome != DEAD_LETTER]


# --------------------------------------------------------------------------------------------------
# Reading HubSpot's state
# --------------------------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> float | None:
    """An ISO-8601 timestamp as epoch seconds (None if absent or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def emulator_lookup(emulator: Any) -> StatusLookup:
    """Statuses straight from the emulator's store (no API call, so no rate limit or fault applies)."""

    def lookup(keys: Sequence[Key]) -> dict[Key, Observed]:
        out: dict[Key, Observed] = {}
        for key in keys:
            stored = emulator.status(key[0], key[1], key[2]) or {}
            out[key] = Observed(stored.get("status"), parse_timestamp(stored.get("timestamp")))
        return out

    return lookup


def hubspot_api_lookup(base_url: str, token: str, timeout_s: float = 10.0) -> StatusLookup:
    """Statuses read back through HubSpot's batch/read endpoint (real portal mode), 100 emails a call."""

    def lookup(keys: Sequence[Key]) -> dict[Key, Observed]:
        out: dict[Key, Observed] = dict.fromkeys(keys, Observed(None))
        emails = sorted({key[0] for key in keys})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s) as client:
            for start in range(0, len(emails), 100):
                response = client.post(
                    "/communication-preferences/v4/statuses/batch/read",
                    params={"channel": "EMAIL"},
                    content=json.dumps({"inputs": emails[start : start + 100]}),
                )
                response.raise_for_status()
                for result in response.json().get("results", []):
                    for status in result.get("statuses", []):
                        key = (
                            str(
                                status.get("subscriberIdString", result.get("subscriberIdString", ""))
                            ).lower(),
                            int(status.get("subscriptionId", 0)),
                            str(status.get("channel", "EMAIL")),
                        )
                        if key in out:  # HubSpot's clock, not ours: no write time
                            out[key] = Observed(status.get("status"))
        return out

    return lookup
