"""HubSpot-side writers in a run: changes a contact, a marketer or a workflow makes in HubSpot while the
upstream messages are on their way (docs/emulator.md, HubSpot-side writers). The function must let the
newest change per key win across both writers (README, How it works), so the oracle
(`local.workload.expected_final_state`) counts each change made as an update of its key at HubSpot's
timestamp for it.

Two kinds, both realistic:

- *before the feed*: made before any message is sent, at a time inside the occurredAt range of the keys
  it touches (`_BASE_TIME` onwards), so some of their upstream updates are older and must lose, some
  newer and must win: a change in HubSpot while the messages were queued;
- *during the run*: made at a random moment while messages flow, at HubSpot's now, so newer than every
  upstream update of its keys: it must win.

Neither goes back in HubSpot's time: before the feed nothing is written yet, and now is never older.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.workload.workload import APPLY, Key, WorkItem, version_us

BEFORE_FEED = "before-feed"
DURING_RUN = "during-run"
STATUS = "status"
UNSUBSCRIBE_ALL = "unsubscribe_all"
SOURCES = ("SUBSCRIPTION_PREFERENCES_PAGE", "CRM_UI", "AUTOMATION_WORKFLOW")
NO_STATUS_CHANGE = "NO_STATUS_CHANGE"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass
class ActorChange:
    """One HubSpot-side change: what is planned, then (once made) what it changed and when.

    `effects` are the (key, status) pairs HubSpot changed, from the emulator's answer: a change to the
    status a subscription already had (`NO_STATUS_CHANGE`) changes nothing and counts for no key.
    """

    email: str
    action: str
    kind: str
    subscription_id: int | None = None
    state: str | None = None
    business_unit_id: int | None = None
    source: str = SOURCES[0]
    at: datetime | None = None  # before the feed: the planned time; during the run: None (now)
    progress: float = 0.0  # during the run: the share of the workload sent before it is made
    sequence: int = 0
    made_at: datetime | None = None
    effects: tuple[tuple[Key, str], ...] = ()
    error: str | None = None
    portal: int | None = None  # multi-portal: the contact's own portal, where the change is made

    def body(self) -> dict[str, Any]:
        """The `POST /_emulator/actor` body."""
        out: dict[str, Any] = {"email": self.email, "action": self.action, "source": self.source}
        if self.action == STATUS:
            out |= {"subscription_id": self.subscription_id, "state": self.state}
        elif self.business_unit_id is not None:
            out["business_unit_id"] = self.business_unit_id
        if self.at is not None:
            out["timestamp"] = _iso(self.at)
        return out

    def record(self, answer: Mapping[str, Any]) -> None:
        """What HubSpot says the change did."""
        changed = [
            r for r in answer.get("results", []) if r.get("setStatusSuccessReason") != NO_STATUS_CHANGE
        ]
        self.effects = tuple(
            ((str(r["subscriberIdString"]), int(r["subscriptionId"]), str(r["channel"])), str(r["status"]))
            for r in changed
        )
        stamps = [_parse(str(r["timestamp"])) for r in answer.get("results", [])]
        self.made_at = max(stamps, default=None)

    @property
    def version_us(self) -> int:
        """HubSpot's timestamp of the change in microseconds (the unit of an update's version)."""
        assert self.made_at is not None, "a change not made has no version"
        return (self.made_at - _EPOCH) // timedelta(microseconds=1)

    def describe(self) -> str:
        what = f"{self.subscription_id}={self.state}" if self.action == STATUS else "unsubscribe-all"
        if self.action == UNSUBSCRIBE_ALL:
            what += " (portal-wide)" if self.business_unit_id is None else f" (brand {self.business_unit_id})"
        when = _iso(self.made_at) if self.made_at else "not made"
        return f"HubSpot-side {self.kind} {what} by {self.source} at {when}"


def plan_actor_changes(
    items: Sequence[WorkItem], *, ratio: float, seed: int, portal: Mapping[int, int]
) -> list[ActorChange]:
    """One change for `ratio` of the contacts with upstream updates, half before the feed and half
    during the run; per-subscription SUBSCRIBED/UNSUBSCRIBED, and unsubscribe-alls (portal-wide or
    brand 0). Deterministic for a seed."""
    rng = random.Random(seed * 104729 + 17)
    versions: dict[str, dict[int, list[datetime]]] = {}
    portals: dict[str, int | None] = {}
    for item in items:
        if item.expectation.outcome != APPLY or item.expectation.occurred_at is None:
            continue
        for (email, subscription_id, _), _status in item.expectation.effects:
            portals[email] = item.expectation.portal
            versions.setdefault(email, {}).setdefault(subscription_id, []).append(
                item.expectation.occurred_at
            )
    contacts = sorted(versions)
    chosen = sorted(rng.sample(contacts, round(len(contacts) * ratio))) if ratio > 0 else []
    changes = []
    for sequence, email in enumerate(chosen):
        change = _one_change(rng, email, versions[email], portal)
        change.sequence = sequence
        change.portal = portals[email]
        changes.append(change)
    return changes


def _one_change(
    rng: random.Random, email: str, keys: Mapping[int, list[datetime]], portal: Mapping[int, int]
) -> ActorChange:
    kind = rng.choice((BEFORE_FEED, DURING_RUN))
    source = rng.choice(SOURCES)
    if rng.random() < 0.7:
        subscription_id = rng.choice(sorted(keys))
        state = rng.choice(("SUBSCRIBED", "UNSUBSCRIBED"))
        change = ActorChange(email, STATUS, kind, subscription_id, state, source=source)
        scope = [subscription_id]
    else:
        brand = rng.choice((None, 0))
        change = ActorChange(email, UNSUBSCRIBE_ALL, kind, business_unit_id=brand, source=source)
        scope = [s for s, owner in portal.items() if brand is None or owner == brand]
    if kind == BEFORE_FEED:
        change.at = inside(rng, [moment for s in scope for moment in keys.get(s, [])])
    else:
        change.progress = rng.uniform(0.05, 0.9)
    return change


def inside(rng: random.Random, moments: Iterable[datetime]) -> datetime:
    """A millisecond strictly between two of `moments` (so some are older, some newer, none equal);
    next to the only one when there is one."""
    distinct = sorted(set(moments))
    gaps = [(a, b) for a, b in itertools.pairwise(distinct) if b - a >= 2 * _MS]
    if gaps:
        low, high = rng.choice(gaps)
        steps = (high - low) // _MS - 1
        return low + _MS * rng.randint(1, steps)
    if not distinct:
        raise ValueError("no upstream update to place a HubSpot-side change among")
    offset = _MS * rng.randint(1, 500)
    return distinct[0] - offset if rng.random() < 0.5 else distinct[-1] + offset


@dataclass
class ActorRun:
    """Makes the planned changes through `act` (local.hubspot_emulator.remote.act, bound to the
    emulator's URL): `before_feed()` before the first message is sent, then `start(sent_share)` makes
    each during-run change once that share of the workload was sent. `stop()` makes what is left.
    A change with a `portal` is made through `act_in` (body, portal) in that portal, when given."""

    changes: Sequence[ActorChange]
    act: Callable[[dict[str, Any]], Mapping[str, Any]]
    act_in: Callable[[dict[str, Any], int], Mapping[str, Any]] | None = None
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def before_feed(self) -> None:
        for change in self.changes:
            if change.kind == BEFORE_FEED:
                self._make(change)

    def start(self, sent_share: Callable[[], float]) -> None:
        pending = sorted((c for c in self.changes if c.kind == DURING_RUN), key=lambda c: c.progress)

        def run() -> None:
            for change in pending:
                while sent_share() < change.progress and not self._stop.wait(0.05):
                    pass
                self._make(change)

        self._thread = threading.Thread(target=run, daemon=True, name="hubspot-side-writers")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30.0)

    def _make(self, change: ActorChange) -> None:
        try:
            if change.portal is not None and self.act_in is not None:
                change.record(self.act_in(change.body(), change.portal))
            else:
                change.record(self.act(change.body()))
        except Exception as exc:  # a refused change is not made: counted, reported, in no key's history
            change.error = f"{type(exc).__name__}: {exc}"
            self.errors.append(f"{change.email}: {change.error}")


def made(changes: Iterable[ActorChange]) -> list[ActorChange]:
    """The changes HubSpot made (with their effects and time)."""
    return [change for change in changes if change.made_at is not None and change.error is None]


def superseded_by_hubspot(items: Iterable[WorkItem], changes: Iterable[ActorChange]) -> int:
    """Upstream messages the oracle says lose to a HubSpot-side change: sent, applicable, and older
    than a change of one of their keys to another status (the function deletes such a message
    without writing it, or writes only its keys no newer change touched)."""
    newer: dict[Key, list[tuple[int, str]]] = {}
    for change in made(changes):
        for key, status in change.effects:
            newer.setdefault(key, []).append((change.version_us, status))
    count = 0
    for item in items:
        if not item.message_id or item.expectation.outcome != APPLY:
            continue
        version = version_us(item)
        if any(
            at > version and status != wanted
            for key, wanted in item.expectation.effects
            for at, status in newer.get(key, ())
        ):
            count += 1
    return count


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
