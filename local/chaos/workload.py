"""The fault-injection suite's workload: `local.workload.generate` plus what only a chaos run needs.

On top of the generated bursts (shuffled updates per key, duplicates within a burst, invalid bodies,
unknown subscription 999999, unsubscribe-alls, newer bursts sent later), this adds, sent after everything
else:

- late older updates: an update for an existing key whose occurredAt is an hour before every other
  update of that key (the newer ones were sent first; the older arrives in a later batch);
- unknown subscriptions: a valid-looking update for subscription 999999 (HubSpot rejects the item),
  spread through the run so whole-batch-400 and nameless-context windows meet them;
- re-sends: an exact copy of an earlier body as a new SQS message (a producer's duplicate delivery
  across batches), valid or not;
- poison bodies (README: Reliability, Hostile world): an update of an existing key whose
  legalBasisExplanation holds a lone surrogate, a bidi override or a C1 control, whose occurredAt is far
  in the future, date-only or a week date, whose JSON repeats a key, or whose subscriptionId is an
  extreme number; each rides in a burst of valid updates, so it shares their batch and chunk.

Every item is classified by the same oracle as `make run` (`local.workload.classify`). With `portals`
(`make chaos --portals N`) the contacts are spread over them as `make run --portals N` spreads them
(`generate(portals=...)`); every added message copies an existing body, so it keeps its `portalId`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from local.workload.bodies import STATUS_STATES, UNKNOWN_SUBSCRIPTION_ID
from local.workload.bodies import iso as _iso
from local.workload.workload import (
    APPLY,
    DEAD_LETTER,
    MAX_BURST,
    WorkItem,
    Workload,
    _item,
    _parse_time,
    combine,
    generate,
)

LATE = "late-older"
RESEND = "resend"
REJECTED_SOURCE = "unknown-subscription"
POISON = "poison"
# How each poison body breaks an otherwise valid update (every one is INVALID_MESSAGE by the contract).
POISONS: tuple[tuple[str, Any], ...] = (
    ("legalBasisExplanation", "cut emoji \ud83d"),  # a lone surrogate, as a JavaScript producer emits it
    ("legalBasisExplanation", "consent \u202egnp.exe"),  # a bidi override
    ("legalBasisExplanation", "line\u0085break"),  # a C1 control (NEL)
    ("occurredAt", "9999-12-31T23:59:59Z"),  # far future: would make later updates "superseded"
    ("occurredAt", "2026-01-05"),  # date only
    ("occurredAt", "2026-W02-1T10:00:00Z"),  # a week date
    ("statusState", None),  # the key repeated: duplicate JSON keys
    ("subscriptionId", 18446744073709551616),  # past int64
    ("subscriptionId", 1e400),  # an overflowing number (parses as infinity)
)


def chaos_workload(
    messages: int,
    *,
    seed: int,
    portal: Mapping[int, int],
    late_ratio: float = 0.03,
    resend_ratio: float = 0.03,
    rejected_ratio: float = 0.02,
    unsubscribe_all_ratio: float = 0.2,
    invalid_ratio: float = 0.03,
    poison_ratio: float = 0.02,
    portals: Sequence[int] = (),
) -> Workload:
    """Exactly `messages` messages (deterministic for a seed)."""
    multi = len(portals) > 1
    extra_share = late_ratio + resend_ratio + rejected_ratio + poison_ratio
    base_count = max(1, round(messages / (1 + extra_share))) if messages else 0
    ids = tuple(sorted(i for i, brand in portal.items() if brand == 0))
    base = generate(
        base_count,
        seed=seed,
        subscription_ids=ids,
        subscriptions=portal,
        unsubscribe_all_ratio=unsubscribe_all_ratio,
        invalid_ratio=invalid_ratio,
        portals=portals,
    )
    rng = random.Random(seed * 7919 + 1)
    items = base.items
    updates = [i for i in items if i.expectation.outcome == APPLY and i.expectation.key is not None]
    earliest: dict[Any, datetime] = {}
    for update in updates:
        moment = update.expectation.occurred_at
        if moment is not None and (
            update.expectation.key not in earliest or moment < earliest[update.expectation.key]
        ):
            earliest[update.expectation.key] = moment
    extra: list[WorkItem] = []
    bursts = list(base.bursts)
    added = 0
    while len(items) + added < messages and items:
        draw = rng.random() * max(extra_share, 1e-9)
        if updates and draw < rejected_ratio:
            bursts.insert(
                rng.randrange(len(bursts) + 1), [_rejected(rng, rng.choice(updates), portal, multi)]
            )
        elif updates and draw < rejected_ratio + late_ratio:
            extra.append(_late_older(rng, rng.choice(updates), earliest, portal, multi))
        elif updates and draw < rejected_ratio + late_ratio + poison_ratio:
            poison = _poison(rng, rng.choice(updates), portal, multi)
            roomy = [b for b in bursts if len(b) < MAX_BURST]
            if roomy:
                burst = rng.choice(roomy)
                burst.insert(rng.randrange(len(burst) + 1), poison)
            else:
                bursts.append([poison])
        else:
            extra.append(_item(rng.choice(items).body, portal, source=RESEND, multi_portal=multi))
        added += 1
    return combine(Workload(bursts=[*bursts, *([item] for item in extra)]))


def _rejected(rng: random.Random, item: WorkItem, portal: Mapping[int, int], multi: bool) -> WorkItem:
    body = json.loads(item.body)
    body["subscriptionId"] = UNKNOWN_SUBSCRIPTION_ID
    return _item(json.dumps(body), portal, source=REJECTED_SOURCE, multi_portal=multi)


def _poison(rng: random.Random, item: WorkItem, portal: Mapping[int, int], multi: bool) -> WorkItem:
    """`item`'s update broken in one of the POISONS ways."""
    name, value = rng.choice(POISONS)
    body = json.loads(item.body)
    if value is None:  # the same key twice, the second one winning in a lenient parser
        text = json.dumps(body)[:-1] + f', "{name}": "{rng.choice(STATUS_STATES)}"}}'
        return _item(text, portal, source=POISON, multi_portal=multi)
    body[name] = value
    if name == "legalBasisExplanation":
        body.setdefault("legalBasis", "CONSENT_WITH_NOTICE")
    text = json.dumps(body)
    if value == 1e400:
        text = text.replace("Infinity", "1e400")
    return _item(text, portal, source=POISON, multi_portal=multi)


def _late_older(
    rng: random.Random,
    item: WorkItem,
    earliest: Mapping[Any, datetime],
    portal: Mapping[int, int],
    multi: bool,
) -> WorkItem:
    """An update of `item`'s key an hour older than the key's oldest update."""
    body = json.loads(item.body)
    moment = earliest.get(item.expectation.key) or _parse_time(body["occurredAt"])
    moment = moment - timedelta(hours=1, milliseconds=rng.randint(0, 999))
    body["occurredAt"] = _iso(moment)
    body["statusState"] = rng.choice(STATUS_STATES)
    body.pop("legalBasis", None)
    body.pop("legalBasisExplanation", None)
    return _item(json.dumps(body), portal, source=LATE, multi_portal=multi)


def is_invalid(item: WorkItem) -> bool:
    """Invalid for invariant 2: the oracle says it can never apply (INVALID_MESSAGE, or
    HUBSPOT_REJECTED_ITEM such as subscription 999999), so it must end in the DLQ with a reason."""
    return item.expectation.outcome == DEAD_LETTER
