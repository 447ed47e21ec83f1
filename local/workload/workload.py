"""The messages `make run` sends, and an independent oracle for what should become of each one.

A workload is a list of bursts. A burst holds the updates one producer emits for one key within a short
time (1-4 updates, sent shuffled so they arrive out of order, sometimes with an exact duplicate), plus
now and then an invalid record or an unsubscribe-from-all for the contact. A burst is one SendMessageBatch
call (at most 10 entries), so it usually lands in one Lambda batch, where the handler can coalesce it;
some keys get a second, newer burst much later. Invalid records cover each way the contract can be
broken: bad email, unknown field, non-integer subscriptionId, garbage JSON, and a well-formed update for
a subscription HubSpot does not know (which HubSpot rejects per item).

Several portals (`generate(portals=...)`): each contact belongs to one portal, and each of its messages
carries that portal's id as `portalId` (an integer, or now and then a string of digits, as the message
contract allows); `missing_portal_ratio` of the messages leave it out, which a multi-portal deployment
without a default portal dead-letters as INVALID_MESSAGE. The oracle then judges every key within its
portal: a key is (portal, email, subscription, channel) (`Expectation.portal`, `in_portal`).

The oracle (`classify`) takes validity from the function's own validator (one rule, not a second copy;
see `_breaks_contract` for why that is no tautology) and works out the rest itself, so `make run` and
`make chaos` can tell whether the handler dead-lettered exactly what it should have and applied the rest.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from local.workload.bodies import KNOWN_SUBSCRIPTION_IDS
from local.workload.bodies import email_address as _email
from local.workload.bodies import invalid_body as _invalid
from local.workload.bodies import unsubscribe_all_body as _unsubscribe_all
from local.workload.bodies import update_body as _update
from local.workload.portal_ids import NO_PORTAL, PortalTagger, split_portal

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "status_writer"
if str(FUNCTION_DIR) not in sys.path:  # the function's own package, for its validator (see classify)
    sys.path.insert(0, str(FUNCTION_DIR))

from status_writer.model import Message, Rejected  # noqa: E402
from status_writer.parse import parse_message  # noqa: E402

DEFAULT_SUBSCRIPTIONS: Mapping[int, int] = dict.fromkeys(KNOWN_SUBSCRIPTION_IDS, 0)  # id -> brand
UNSUBSCRIBED = "UNSUBSCRIBED"
FIELDS = frozenset(
    {
        "subscriberIdString",
        "subscriptionId",
        "statusState",
        "channel",
        "legalBasis",
        "legalBasisExplanation",
        "occurredAt",
    }
)
REQUIRED = ("subscriberIdString", "subscriptionId", "statusState")

UNSUBSCRIBE_FIELDS = frozenset({"action", "subscriberIdString", "channel", "businessUnitId", "occurredAt"})
# What the handler names these outcomes in the DLQ's error_category attribute.
INVALID = "INVALID_MESSAGE"
REJECTED = "HUBSPOT_REJECTED_ITEM"
APPLY = "apply"
DEAD_LETTER = "dead_letter"
MAX_BURST = 10  # one SendMessageBatch call
INT64_MAX = 2**63 - 1
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Key = tuple[str, int, str]  # (lowercased email, subscriptionId, channel)


@dataclass(frozen=True)
class Expectation:
    """What should happen to one message body: apply (possibly superseded) or dead-letter, and why.

    `effects` are the (key, status) pairs HubSpot holds if this message is the newest for those keys:
    one for a status update, one per subscription in scope for an unsubscribe-from-all.
    """

    outcome: str
    reason: str = ""
    key: Key | None = None
    status: str | None = None
    occurred_at: datetime | None = None
    email: str | None = None
    effects: tuple[tuple[Key, str], ...] = ()
    portal: int | None = None  # multi-portal: the portal the message is for (its portalId, or the default)


@dataclass
class WorkItem:
    """One message to send, what the oracle expects of it, and (once sent) its SQS message id."""

    body: str
    expectation: Expectation
    source: str = "generated"
    sequence: int = 0  # position in the workload, the last tie-breaker
    message_id: str = ""  # set once SQS accepted it
    sent_at: float | None = None  # epoch seconds when SQS accepted it


@dataclass
class Workload:
    """Bursts of work items (each burst goes out in one SendMessageBatch call)."""

    bursts: list[list[WorkItem]] = field(default_factory=list)

    @property
    def items(self) -> list[WorkItem]:
        return [item for burst in self.bursts for item in burst]

    def __len__(self) -> int:
        return sum(len(burst) for burst in self.bursts)


HUBSPOT_SIDE = "hubspot-side-change"  # the "message id" of a key a HubSpot-side change decides


class HubSpotChange(Protocol):
    """A change made in HubSpot itself (local.workload.actors.ActorChange): the keys it changed, to
    which status, and HubSpot's timestamp for it in microseconds."""

    effects: tuple[tuple[Key, str], ...]
    sequence: int

    @property
    def version_us(self) -> int: ...


@dataclass(frozen=True)
class Effect:
    """What should decide a key's final status, and that status: an upstream message (`item`), or a
    change made in HubSpot (`actor`, then `item` is None)."""

    item: WorkItem | None
    status: str
    actor: HubSpotChange | None = None

    @property
    def message_id(self) -> str:
        """The deciding message's id, or a name for a HubSpot-side change (it has none)."""
        return self.item.message_id if self.item is not None else HUBSPOT_SIDE


# --------------------------------------------------------------------------------------------------
# Oracle
# --------------------------------------------------------------------------------------------------


def _unwrap(body: Any) -> Any:
    """SNS- and EventBridge-wrapped bodies carry the update inside (the contract allows both)."""
    for _ in range(3):
        if (
            isinstance(body, dict)
            and body.get("Type") == "Notification"
            and isinstance(body.get("Message"), str)
        ):
            try:
                body = json.loads(body["Message"])
            except ValueError:
                return None
        elif isinstance(body, dict) and "detail" in body and ("detail-type" in body or "source" in body):
            body = body["detail"]
        else:
            break
    return body


def _parse_time(value: Any) -> datetime:
    """ISO-8601; without an offset it is UTC (the contract's rule)."""
    if not isinstance(value, str):
        raise ValueError("occurredAt is not a string")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _valid_email(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 254 and _EMAIL.match(value) is not None


def _positive_int(value: Any, maximum: int = INT64_MAX, minimum: int = 1) -> int | None:
    """An integer or a string of digits within range, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and minimum <= value <= maximum:
        return value
    return None


def _breaks_contract(body: str) -> bool:
    """The one validity rule: the function's own ``parse.parse_message`` (README: Message contract).

    Calling the function's validator here is not a tautology for what the oracle is used for: the
    invariants check outcomes (an invalid body must end in the DLQ with INVALID_MESSAGE after travelling
    SQS, the handler and the redrive; a valid one must end applied in HubSpot at its newest state), and
    none of that follows from the parser's verdict. A second copy of the contract's rules here would only
    drift from the one that decides. What the oracle keeps of its own is what follows a valid body: its
    key, its status, its time and the subscriptions it reaches."""
    message = Message(message_id="oracle", position=0, body=body, sent_timestamp_ms=int(time.time() * 1000))
    return isinstance(parse_message(message), Rejected)


def classify(
    body: str,
    subscriptions: Mapping[int, int] | Iterable[int] = DEFAULT_SUBSCRIPTIONS,
    *,
    multi_portal: bool = False,
    default_portal: int | None = None,
) -> Expectation:
    """What the message contract says must happen to this body. `subscriptions` are the portal's
    subscription ids (with their brand when a mapping; brand 0 otherwise).

    `multi_portal`: the deployment serves several portals (README, Message contract: `portalId`). A
    body's `portalId` must be a positive integer or a string of digits; without one it is INVALID
    unless there is a `default_portal`. The rest of the body is judged by the function's own validator
    as for one portal (which does not take `portalId` in single-portal bodies)."""
    portal: int | None = None
    if multi_portal:
        body, value = split_portal(body)
        portal = default_portal if value is NO_PORTAL else _positive_int(value)
        if portal is None:
            return Expectation(DEAD_LETTER, INVALID)
    expectation = _classify_one_portal(body, subscriptions)
    return dataclasses.replace(expectation, portal=portal) if portal is not None else expectation


def _classify_one_portal(body: str, subscriptions: Mapping[int, int] | Iterable[int]) -> Expectation:
    known = dict(subscriptions) if isinstance(subscriptions, Mapping) else dict.fromkeys(subscriptions, 0)
    if _breaks_contract(body):
        return Expectation(DEAD_LETTER, INVALID)
    data = _unwrap(json.loads(body))
    if data.get("action") is not None:
        return _classify_unsubscribe_all(data, known)
    email, state = data["subscriberIdString"], data["statusState"]
    subscription_id = int(data["subscriptionId"])
    channel = data.get("channel") or "EMAIL"
    occurred_at = _parse_time(data["occurredAt"]) if data.get("occurredAt") is not None else None
    key = (email.lower(), subscription_id, channel)
    if subscription_id not in known:
        return Expectation(DEAD_LETTER, REJECTED, key, state, occurred_at, key[0])
    return Expectation(APPLY, "", key, state, occurred_at, key[0], ((key, state),))


def _classify_unsubscribe_all(data: dict[str, Any], known: Mapping[int, int]) -> Expectation:
    """A valid unsubscribe-from-all: UNSUBSCRIBED on every subscription of its brand (all without one)."""
    channel = data.get("channel") or "EMAIL"
    brand = int(data["businessUnitId"]) if data.get("businessUnitId") is not None else None
    occurred_at = _parse_time(data["occurredAt"]) if data.get("occurredAt") is not None else None
    address = str(data["subscriberIdString"]).lower()
    effects = tuple(
        ((address, subscription_id, channel), UNSUBSCRIBED)
        for subscription_id, owner in sorted(known.items())
        if brand is None or owner == brand
    )
    return Expectation(APPLY, "", None, UNSUBSCRIBED, occurred_at, address, effects)


def expected_final_state(
    items: Iterable[WorkItem], actors: Iterable[HubSpotChange] = ()
) -> dict[Key, Effect]:
    """The newest change per key across both writers, and the status it leaves: where HubSpot must end.

    Upstream, newest means occurredAt (or, without one, when SQS accepted the message), then send time,
    then workload order: the ordering the message contract defines. An unsubscribe-from-all counts as an
    UNSUBSCRIBED update of every subscription in its scope. A change made in HubSpot (`actors`) is an
    update of version HubSpot's timestamp for each key it changed (README, How it works); at the same
    version the upstream update wins, as the function writes an update that is not older (verify.py
    accepts either status for such a tie).
    """
    newest: dict[Key, tuple[tuple[int, int, float, int], Effect]] = {}
    for item in items:
        if item.expectation.outcome != APPLY:
            continue
        order = _recency(item)
        for key, status in item.expectation.effects:
            if key not in newest or order > newest[key][0]:
                newest[key] = (order, Effect(item, status))
    for actor in actors:
        order = (actor.version_us, 0, 0.0, actor.sequence)
        for key, status in actor.effects:
            if key not in newest or order > newest[key][0]:
                newest[key] = (order, Effect(None, status, actor))
    return {key: effect for key, (_, effect) in newest.items()}


def version_us(item: WorkItem) -> int:
    """An upstream update's version in microseconds: occurredAt, else when SQS accepted it."""
    occurred = item.expectation.occurred_at
    if occurred is not None:
        return (occurred - _EPOCH) // _MICROSECOND
    return round(item.sent_at * 1_000_000) if item.sent_at is not None else -(2**62)


def _recency(item: WorkItem) -> tuple[int, int, float, int]:
    """The handler's rule: occurredAt, falling back to when SQS got the message; then send time (a
    HubSpot-side change of the same version sorts below: second place 0)."""
    sent = item.sent_at if item.sent_at is not None else float("-inf")
    return (version_us(item), 1, sent, item.sequence)


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def generate(
    messages: int,
    *,
    seed: int = 1,
    subscription_ids: Sequence[int] = KNOWN_SUBSCRIPTION_IDS,
    subscriptions: Mapping[int, int] | None = None,
    domain: str = "example.com",
    invalid_ratio: float = 0.03,
    duplicate_ratio: float = 0.05,
    second_burst_ratio: float = 0.1,
    unsubscribe_all_ratio: float = 0.03,
    portals: Sequence[int] = (),
    missing_portal_ratio: float = 0.0,
) -> Workload:
    """Exactly `messages` messages in key bursts, deterministic for a seed.

    Keys cycle through `subscription_ids` for one address before moving to the next address. The last
    burst of an address sometimes carries an unsubscribe-from-all for it (`unsubscribe_all_ratio` per
    address), timed among that burst's updates. `subscriptions` (id -> brand) is what the oracle
    classifies against (default: `subscription_ids`, all in brand 0).

    `portals` (more than one) spreads the addresses over those portals in turn; every message of an
    address carries its portal's `portalId`, except `missing_portal_ratio` of them (default 0), which
    carry none and must be dead-lettered as INVALID_MESSAGE. One portal or none: today's workload.
    """
    if not 0 <= missing_portal_ratio <= 1:
        raise ValueError("missing_portal_ratio must be within 0..1")
    rng = random.Random(seed)
    known = tuple(subscription_ids)
    portal = dict(subscriptions) if subscriptions is not None else dict.fromkeys(known, 0)
    tagger = PortalTagger(random.Random(seed * 7919 + 3), tuple(portals), missing_portal_ratio)
    bursts: list[list[WorkItem]] = []
    later: list[list[WorkItem]] = []
    produced = 0
    key_index = 0
    invalid_index = 0
    while produced < messages:
        budget = messages - produced
        email = _email(rng, key_index // len(known), domain)
        tagger.address(key_index // len(known))
        subscription_id = known[key_index % len(known)]
        last_of_address = key_index % len(known) == len(known) - 1
        key_index += 1
        start = _BASE_TIME + timedelta(seconds=key_index)
        size = min(budget, rng.randint(1, 4))
        burst = _burst(
            rng,
            email=email,
            subscription_id=subscription_id,
            start=start,
            size=size,
            duplicate_ratio=duplicate_ratio,
            portal=portal,
            tagger=tagger,
        )
        if rng.random() < invalid_ratio * 2.5 and len(burst) < min(budget, MAX_BURST):
            burst.append(_tagged_item(tagger, _invalid(rng, invalid_index, start), portal))
            invalid_index += 1
        if last_of_address and rng.random() < unsubscribe_all_ratio and len(burst) < min(budget, MAX_BURST):
            moment = start + timedelta(milliseconds=rng.randint(0, 400))
            burst.append(_tagged_item(tagger, _unsubscribe_all(rng, email, moment), portal))
        rng.shuffle(burst)  # out of order: the producer's sends race
        produced += len(burst)
        bursts.append(burst)
        if rng.random() < second_burst_ratio and produced < messages:
            newer = _burst(
                rng,
                email=email,
                subscription_id=subscription_id,
                start=start + timedelta(days=1),
                size=min(messages - produced, rng.randint(1, 3)),
                duplicate_ratio=0.0,
                portal=portal,
                tagger=tagger,
            )
            produced += len(newer)
            later.append(newer)
    # The newer bursts go out after everything else, so they reach the queue well after the first ones.
    return combine(Workload(bursts=bursts + later))


def _burst(
    rng: random.Random,
    *,
    email: str,
    subscription_id: int,
    start: datetime,
    size: int,
    duplicate_ratio: float,
    portal: Mapping[int, int],
    tagger: PortalTagger,
) -> list[WorkItem]:
    burst: list[WorkItem] = []
    for offset in range(size):
        moment = start + timedelta(milliseconds=137 * offset + rng.randint(0, 100))
        burst.append(_tagged_item(tagger, json.dumps(_update(rng, email, subscription_id, moment)), portal))
        if len(burst) < size and rng.random() < duplicate_ratio:
            burst.append(
                _tagged_item(tagger, burst[-1].body, portal, tagged=True)
            )  # the producer sent it twice
    return burst[:size]


def _tagged_item(
    tagger: PortalTagger, body: str, portal: Mapping[int, int], *, tagged: bool = False
) -> WorkItem:
    """The work item of `body` in the tagger's current portal (`tagged`: the body carries it already)."""
    if tagger.current is None:
        return _item(body, portal)
    body = body if tagged else tagger.tag(body)
    return WorkItem(body=body, expectation=classify(body, portal, multi_portal=True))


def _item(
    body: str, portal: Mapping[int, int], source: str = "generated", *, multi_portal: bool = False
) -> WorkItem:
    return WorkItem(body=body, expectation=classify(body, portal, multi_portal=multi_portal), source=source)


def from_event_files(
    paths: Iterable[Path],
    subscriptions: Mapping[int, int] = DEFAULT_SUBSCRIPTIONS,
    *,
    multi_portal: bool = False,
) -> Workload:
    """The bodies of the records in full SQS event files (events/*.json), in chunks of one send call.
    `multi_portal`: judged as a multi-portal deployment without a default portal judges them."""
    bursts: list[list[WorkItem]] = []
    for path in sorted(paths):
        event = json.loads(Path(path).read_text(encoding="utf-8"))
        records = event.get("Records", []) if isinstance(event, Mapping) else []
        items = [
            _item(str(record["body"]), subscriptions, source=Path(path).name, multi_portal=multi_portal)
            for record in records
            if "body" in record
        ]
        bursts.extend(items[i : i + MAX_BURST] for i in range(0, len(items), MAX_BURST))
    return Workload(bursts=bursts)


def in_portal(items: Iterable[WorkItem], portal: int | None) -> list[WorkItem]:
    """The items for one portal (`portal` None: every item of a single-portal workload)."""
    return [item for item in items if portal is None or item.expectation.portal == portal]


def combine(*workloads: Workload) -> Workload:
    """One workload from several, with the send order renumbered."""
    combined = Workload(bursts=[burst for workload in workloads for burst in workload.bursts])
    for sequence, item in enumerate(combined.items):
        item.sequence = sequence
    return combined
