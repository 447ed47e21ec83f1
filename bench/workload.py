"""The bench's SQS events: records shaped exactly as Lambda's SQS event source delivers them, with the
README's message body (every optional field set), one distinct (email, subscription) per update.

Events are described by a small spec (`EventSpec`) so a worker process can build its own event instead of
receiving hundreds of kilobytes through a pipe; `payload_bytes` builds the serialized form when the raw
payload itself matters (the memory figure).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

QUEUE_NAME = "bench-status-updates"
REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}"
SUBSCRIPTION_IDS = (1001, 1002, 1003)  # the emulator's default brand-0 subscriptions
SENT_AT_MS = 1_795_684_800_000  # 2026-11-26T00:00:00Z; fixed so runs are reproducible
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # bytes, synchronous invocation payload (what an SQS batch must fit)
EXPLANATION = "Ticked the newsletter box on the signup form"
# With several portals, consecutive contacts go to one portal in blocks of one batch call (100 inputs,
# the function's default HUBSPOT_BATCH_LIMIT), so each portal's share of an event is whole calls and its
# bound is Max / interval x 100 statuses/s, as figure 2's is (bench/README.md, figure 8).
PORTAL_BLOCK = 100


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Records ``start`` .. ``start + count - 1``.

    ``lean`` records carry only the required body fields and the attributes every SQS record has (the
    shape that lets 10,000 records fit in Lambda's 6 MB payload); ``pad`` lengthens each lean record's
    receipt handle (real handles vary in length) to bring the payload to a chosen size. With
    ``portals``, every body names its portal (``portalId``, README: Many portals), by ``portal_of``.
    """

    start: int
    count: int
    lean: bool = False
    pad: int = 0
    portals: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventSpec:
        portals = tuple(int(portal) for portal in data.get("portals") or ())
        return cls(
            int(data["start"]), int(data["count"]), bool(data.get("lean")), int(data.get("pad", 0)), portals
        )


def portal_of(n: int, portals: tuple[int, ...]) -> int | None:
    """The portal of update ``n``: blocks of ``PORTAL_BLOCK`` consecutive updates per portal, in turn
    (None without portals: a single-portal body)."""
    if not portals:
        return None
    return portals[(n // PORTAL_BLOCK) % len(portals)]


def contact_number(email: str) -> int | None:
    """The update number of a full body's contact (``bench.contact.NNNNNNN@example.com``), else None."""
    local, _, domain = email.partition("@")
    prefix, _, digits = local.rpartition(".")
    if domain != "example.com" or prefix != "bench.contact" or not digits.isdigit():
        return None
    return int(digits)


def body(n: int, lean: bool = False, portals: tuple[int, ...] = ()) -> dict[str, Any]:
    """Update number ``n``: a distinct contact per update; the README's example fields unless lean;
    its ``portalId`` when there are ``portals``."""
    update: dict[str, Any] = {
        "subscriberIdString": f"c{n:07d}@example.com" if lean else f"bench.contact.{n:07d}@example.com",
        "subscriptionId": SUBSCRIPTION_IDS[n % len(SUBSCRIPTION_IDS)],
        "statusState": "SUBSCRIBED" if n % 4 else "UNSUBSCRIBED",
    }
    if not lean:
        update["legalBasis"] = "CONSENT_WITH_NOTICE"
        update["legalBasisExplanation"] = EXPLANATION
        update["occurredAt"] = f"2026-11-26T09:{(n // 60) % 60:02d}:{n % 60:02d}Z"
    portal = portal_of(n, portals)
    if portal is not None:
        update["portalId"] = portal
    return update


def record(n: int, lean: bool = False, pad: int = 0, portals: tuple[int, ...] = ()) -> dict[str, Any]:
    """One Lambda SQS record (same keys and attribute set as events/sqs-batch.json unless lean)."""
    message_id = str(uuid.UUID(int=(0xBE7C << 112) | n))
    sent = SENT_AT_MS + n
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": str(sent),
        "SenderId": "AROA4EXAMPLEPRODUCER:crm-sync",
        "ApproximateFirstReceiveTimestamp": str(sent + 5),
    }
    message_attributes: dict[str, Any] = {}
    if not lean:
        attributes["AWSTraceHeader"] = f"Root=1-6b07f9c0-{n:024x};Parent=abd2d9f29fb93534;Sampled=0"
        message_attributes["producer"] = {
            "stringValue": "crm-sync",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    handle = 40 + pad if lean else 160  # real handles are ~180 characters
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{n:012d}" + "x" * handle,
        "body": json.dumps(body(n, lean, portals), separators=(",", ":")),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": f"{n:032x}",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def event(spec: EventSpec) -> dict[str, Any]:
    """The Lambda event for ``spec``."""
    numbers = range(spec.start, spec.start + spec.count)
    return {"Records": [record(n, spec.lean, spec.pad, spec.portals) for n in numbers]}


def payload_bytes(spec: EventSpec) -> bytes:
    """The event as the Lambda runtime receives it (JSON bytes)."""
    return json.dumps(event(spec), separators=(",", ":")).encode()


def lean_spec_near(start: int, count: int, target_bytes: int) -> EventSpec:
    """A lean ``count``-record event padded to just under ``target_bytes`` of JSON (record sizes do not
    depend on the update number, so the size of records 0.. is the size of records start..)."""
    bare = len(payload_bytes(EventSpec(0, count, lean=True)))
    if bare > target_bytes:
        raise ValueError(f"{count} lean records take {bare} bytes, more than {target_bytes}")
    return EventSpec(start, count, lean=True, pad=(target_bytes - bare) // count)


def event_from_dict(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The event of ``EventSpec.to_dict()`` output: what an execution environment builds it from."""
    return event(EventSpec.from_dict(dict(spec)))
