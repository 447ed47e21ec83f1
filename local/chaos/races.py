"""The read-to-write race the function cannot close (README: Outcomes, HubSpot-side changes): a change
made in HubSpot after an invocation read the contact and before it wrote to the key is overwritten,
since HubSpot's batch write takes no condition. Invariant 1 does not count such a key as wrong; the
report counts it on its own. A key is raced when its newest change is a HubSpot-side one made between
a request that read its contact and a later one that wrote to that key (a write naming its
subscription, or an unsubscribe-all of the contact), less than one function timeout apart, with no
read of the contact in between that would have shown the change: a read of the contact's statuses, or
for a wide opt-out made in HubSpot its wide opt-outs too (a read of those alone does not show a
subscription's status)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from local.workload.actors import ActorChange
from local.workload.workload import HUBSPOT_SIDE

Key = tuple[str, int, str]
WRITE_ROUTES = ("statuses/batch/write", "statuses/batch/unsubscribe-all")


def raced(
    key: Key,
    message_id: str,
    changes: Sequence[ActorChange],
    log: Iterable[Mapping[str, Any]],
    window_s: float,
) -> bool:
    """Whether the newest change of ``key`` (``message_id``) is a HubSpot-side change some invocation
    read around and then wrote over (module docstring)."""
    if message_id != HUBSPOT_SIDE:
        return False
    of_key = [c for c in changes if c.made_at is not None and any(k == key for k, _ in c.effects)]
    if not of_key:
        return False
    moment = max(c.made_at for c in of_key if c.made_at is not None)
    wide = any(c.action != "status" for c in of_key if c.made_at == moment)
    email, subscription, _ = key
    reads, writes = [], []
    for entry in log:
        at = datetime.fromisoformat(str(entry.get("at", "")).replace("Z", "+00:00"))
        kind = _touches(entry, email, subscription, opt_out_reads=wide)
        if kind == "read":
            reads.append(at)
        elif kind == "write":
            writes.append(at)
    before = [r for r in reads if moment - timedelta(seconds=window_s) < r <= moment]
    if not before:
        return False
    start = max(before)
    after = [w for w in writes if moment < w < start + timedelta(seconds=window_s)]
    return any(not any(moment < r < w for r in reads) for w in after)


def _touches(entry: Mapping[str, Any], email: str, subscription: int, *, opt_out_reads: bool) -> str | None:
    """ "read" for a request reading the contact (its wide opt-outs only with ``opt_out_reads``), "write"
    for one writing to the key, else None."""
    route = str(entry.get("route") or "")
    body = entry.get("body")
    text = (json.dumps(body) if body is not None else "").lower() + str(entry.get("path", "")).lower()
    if email not in text:
        return None
    if "read" in route or entry.get("method") == "GET":
        return "read" if opt_out_reads or "unsubscribe-all" not in route else None
    if route == WRITE_ROUTES[1] or route.endswith("unsubscribe-all"):
        return "write"
    if route == WRITE_ROUTES[0]:
        inputs = body.get("inputs", []) if isinstance(body, Mapping) else []
        named = any(
            isinstance(one, Mapping)
            and str(one.get("subscriberIdString", "")).lower() == email
            and one.get("subscriptionId") == subscription
            for one in inputs
        )
        return "write" if named else None
    if isinstance(body, Mapping) and body.get("subscriptionId") == subscription:
        return "write"  # a per-contact write (POST statuses/{email})
    return None
