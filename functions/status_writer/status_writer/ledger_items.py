"""The ordering ledger's DynamoDB item shapes. Pure: no I/O.

One item per contact: ``pk`` a hash of email and channel (no address in a key), ``sk`` ``CONTACT``,
``n`` the recordings so far (the optimistic-concurrency check), ``h`` the applied entries as one
compact JSON object (``{"S:1001": [version, input, stamps], "U:ALL": [...]}``; ``stamps``, the
timestamps HubSpot gave the entry's statuses, is left out when unknown, as in items written before
it existed), ``src`` the ``source`` HubSpot names the function's writes by, as the recording
environment knew it (one per line; absent when unknown), and ``expires_at`` the TTL.
A batch of 100 updates then reads and writes one item per contact, not one per key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from status_writer.entries import NEVER_RECORDED, Contact, Entry, EntryKey, History

SORT_KEY = "CONTACT"
COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call
RETENTION_S = 35 * 86_400  # longer than any message can live in SQS (14 days) plus its DLQ redrive


def _compact_encoder() -> Callable[[Any], str]:
    """COMPACT's encoding, with its C encoder built once: ``JSONEncoder.encode`` builds one per call,
    which costs about as much as encoding a contact's entries (README "Performance")."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return COMPACT.encode
    encoder = make(
        None, COMPACT.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return lambda value: "".join(encoder(value, 0))


compact = _compact_encoder()


@functools.lru_cache(maxsize=4096)  # a contact's key is needed to read, to match and to write it
def partition(contact: Contact) -> str:
    """The contact's partition key: a hash, so no address is ever a key."""
    email, channel = contact
    return hashlib.sha256(f"{email}\n{channel}".encode()).hexdigest()[:40]


def get_request(table: str, partitions: Sequence[str]) -> str:
    """A BatchGetItem request for the items of ``partitions`` (``partition``'s hex digests), as JSON
    text: consistent reads of only what ``history_of`` reads, spelt out as ``put_action`` is."""
    keys = ",".join(f"{{{_key(key)}}}" for key in partitions)
    read = '"ConsistentRead":true,"ProjectionExpression":"pk, n, h, src"'
    return f'{{"RequestItems":{{{_text(table)}:{{"Keys":[{keys}],{read}}}}}}}'


def history_of(item: Mapping[str, Any] | None) -> History:
    """The contact's history from its item (an absent item: never recorded)."""
    if item is None:
        return NEVER_RECORDED
    raw = json.loads(item.get("h", {}).get("S", "{}"))
    entries: dict[EntryKey, Entry] = {}
    for name, (version, payload, *rest) in (raw if isinstance(raw, dict) else {}).items():
        kind, _, scope = str(name).partition(":")
        stamps = tuple(int(s) for s in rest[0]) if rest and isinstance(rest[0], list) else ()
        entries[(kind, scope)] = Entry((kind, scope), str(version), payload, stamps)
    sources = frozenset(s for s in item.get("src", {}).get("S", "").split("\n") if s)
    return History(entries=entries, count=int(item.get("n", {}).get("N", "0")), sources=sources)


def put_action(
    table: str,
    contact: Contact,
    seen: History,
    entries: Mapping[EntryKey, Entry],
    now_s: float,
    *,
    sources: Collection[str] = (),
) -> str:
    """A conditional Put (one TransactWriteItems action), as JSON text: it holds only if nobody
    recorded for the contact since ``seen`` was read. Spelt out, not encoded from a tree of dicts:
    encoding 100 actions' nested maps cost more CPU than shaping the entries (README "Performance")."""
    encoded = {
        f"{e.key[0]}:{e.key[1]}": [e.version, e.payload, list(e.stamps)]
        if e.stamps
        else [e.version, e.payload]
        for e in entries.values()
    }
    item = (
        f'{_key(partition(contact))},"n":{{"N":"{seen.count + 1}"}},'
        f'"h":{{"S":{_text(compact(encoded))}}},"expires_at":{{"N":"{int(now_s) + RETENTION_S}"}}'
    )
    if sources:  # so an environment that has not written yet knows its own writes (freshness.py)
        item += f',"src":{{"S":{_text(_lines(frozenset(sources)))}}}'
    # "n" is no reserved word, so no ExpressionAttributeNames.
    condition = (
        '"ConditionExpression":"attribute_not_exists(n)"'
        if seen.count == 0
        else f'"ConditionExpression":"n = :seen","ExpressionAttributeValues":{{":seen":{{"N":"{seen.count}"}}}}'
    )
    return f'{{"Put":{{"TableName":{_text(table)},"Item":{{{item}}},{condition}}}}}'


_text = json.encoder.encode_basestring_ascii  # a JSON string literal, quotes and escapes included


def _key(partition_key: str) -> str:
    """An item's key attributes as JSON members (``partition``'s hex digest needs no escaping)."""
    return f'"pk":{{"S":"{partition_key}"}},"sk":{{"S":"{SORT_KEY}"}}'


@functools.lru_cache(maxsize=16)  # one environment's sources: the same few sets for every contact
def _lines(sources: frozenset[str]) -> str:
    return "\n".join(sorted(s for s in sources if "\n" not in s))
