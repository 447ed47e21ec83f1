"""Parse and validate SQS records against the message contract. Pure: no I/O.

A body is one JSON object with HubSpot's PublicStatusRequest fields plus an optional ``occurredAt``.
Bodies that SNS (``Type: Notification``) or EventBridge (``detail``) wrapped are unwrapped first.
Anything that cannot become a valid batch/write input is rejected here with a reason, so it never
reaches HubSpot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from status_writer import fields
from status_writer.fields import InvalidMessage
from status_writer.model import Message, Rejected, StatusUpdate, UnsubscribeAll

FIELDS = frozenset(
    {
        "subscriberIdString",
        "subscriptionId",
        "statusState",
        "channel",
        "legalBasis",
        "legalBasisExplanation",
        "occurredAt",
        "portalId",
    }
)
# Common misspellings of the contract's field names, so the error says what was meant.
_DID_YOU_MEAN = {
    "status": "statusState",
    "state": "statusState",
    "email": "subscriberIdString",
    "emailAddress": "subscriberIdString",
    "subscriberId": "subscriberIdString",
    "subscription_id": "subscriptionId",
    "id": "subscriptionId",
    "legal_basis": "legalBasis",
    "occurred_at": "occurredAt",
    "timestamp": "occurredAt",
}

UNSUBSCRIBE_ALL = "UNSUBSCRIBE_ALL"
UNSUBSCRIBE_FIELDS = frozenset(
    {"action", "subscriberIdString", "channel", "businessUnitId", "occurredAt", "portalId"}
)
MAX_WRAPPING_DEPTH = 3


def message_from_record(record: Mapping[str, Any], position: int) -> Message:
    """The parts of a Lambda SQS record the pipeline needs (tolerant: a record is never dropped)."""
    attributes = record.get("attributes")
    if type(attributes) is not dict and not isinstance(attributes, Mapping):  # dict: skip the ABC check
        attributes = {}
    message_attributes = record.get("messageAttributes")
    body = record.get("body")
    group_id = attributes.get("MessageGroupId")
    return Message(
        message_id=str(record.get("messageId", "")),
        position=position,
        body=body if isinstance(body, str) else "",
        receipt_handle=str(record.get("receiptHandle", "")),
        sent_timestamp_ms=_int_or(attributes.get("SentTimestamp"), 0),
        receive_count=max(1, _int_or(attributes.get("ApproximateReceiveCount"), 1)),
        group_id=str(group_id) if group_id else None,
        source_arn=str(record.get("eventSourceARN", "")),
        attributes=dict(message_attributes)
        if type(message_attributes) is dict or isinstance(message_attributes, Mapping)
        else {},
    )


def parse_message(message: Message, now_ms: int | None = None) -> StatusUpdate | UnsubscribeAll | Rejected:
    """Validate one message body; a Rejected carries a reason fit for the DLQ attribute. A body with
    ``"action": "UNSUBSCRIBE_ALL"`` is an unsubscribe-from-all; without ``action``, a status update.
    ``occurredAt`` is checked against the message's SentTimestamp, or ``now_ms`` (default: the clock)
    when the record has none."""
    try:
        body = unwrap(_loads(message.body))
        latest = _latest_occurred_at(message, now_ms)
        if isinstance(body, dict) and body.get("action") is not None:
            return _unsubscribe_all(message, body, latest)
        if isinstance(body, dict) and "action" in body:
            body = {name: value for name, value in body.items() if name != "action"}
        return _status_update(message, body, latest)
    except InvalidMessage as error:
        return Rejected(message=message, reason=str(error))


def _latest_occurred_at(message: Message, now_ms: int | None) -> int:
    """The newest occurredAt believable for this message, in microseconds: a day past when SQS
    accepted it."""
    reference_ms = message.sent_timestamp_ms
    if reference_ms <= 0:
        reference_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return reference_ms * 1000 + fields.MAX_CLOCK_AHEAD_US


def _loads(raw: str) -> Any:
    if not raw.strip():
        raise InvalidMessage("body is empty")
    try:
        return _DECODER.decode(raw)
    except InvalidMessage:
        raise
    except (ValueError, RecursionError) as error:
        raise InvalidMessage(f"body is not valid JSON: {str(error)[:120]}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys repeat is ambiguous (parsers differ on which one wins): refused."""
    result = dict(pairs)
    if len(result) != len(pairs):
        names = [key for key, _ in pairs]
        repeated = sorted({key for key in names if names.count(key) > 1})
        raise InvalidMessage("duplicate JSON key(s): " + ", ".join(ascii(key) for key in repeated)[:200])
    return result


# One decoder for every body: json.loads(..., object_pairs_hook=...) would build a new decoder and
# scanner per call, which costs more than the decoding itself.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def unwrap(body: Any) -> Any:
    """Strip SNS and EventBridge envelopes (nested ones too, up to a small depth)."""
    for _ in range(MAX_WRAPPING_DEPTH):
        if not isinstance(body, dict):
            break
        if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
            body = _loads(body["Message"])
        elif "detail" in body and ("detail-type" in body or "source" in body):
            body = body["detail"]
        else:
            break
    return body


def _status_update(message: Message, body: Any, latest: int) -> StatusUpdate:
    if not isinstance(body, dict):
        raise InvalidMessage(f"body must be a JSON object, not {type(body).__name__}")
    unknown = [] if body.keys() <= FIELDS else sorted(set(body) - FIELDS)
    if unknown:
        hints = [
            f"{name} (did you mean {_DID_YOU_MEAN[name]}?)" if name in _DID_YOU_MEAN else name
            for name in unknown
        ]
        raise InvalidMessage("unknown field(s): " + ", ".join(hints))
    missing = [name for name in ("subscriberIdString", "subscriptionId", "statusState") if name not in body]
    if missing:
        raise InvalidMessage("missing required field(s): " + ", ".join(missing))
    return StatusUpdate(
        message=message,
        email=fields.email(body["subscriberIdString"]),
        subscription_id=fields.subscription_id(body["subscriptionId"]),
        status_state=fields.enum("statusState", body["statusState"], fields.STATUS_STATES),
        channel="EMAIL"
        if body.get("channel") is None
        else fields.enum("channel", body["channel"], fields.CHANNELS),
        legal_basis=None
        if body.get("legalBasis") is None
        else fields.enum("legalBasis", body["legalBasis"], fields.LEGAL_BASES),
        legal_basis_explanation=fields.explanation(body.get("legalBasisExplanation")),
        occurred_at_us=fields.occurred_at(body.get("occurredAt"), latest),
        portal_id=fields.portal_id(body.get("portalId")),
    )


def _unsubscribe_all(message: Message, body: dict[str, Any], latest: int) -> UnsubscribeAll:
    if body["action"] != UNSUBSCRIBE_ALL:
        shown = repr(body["action"])[:60]
        raise InvalidMessage(f"action must be {UNSUBSCRIBE_ALL} (or absent for a status update); got {shown}")
    unknown = sorted(set(body) - UNSUBSCRIBE_FIELDS)
    if unknown:
        raise InvalidMessage(f"unknown field(s) for {UNSUBSCRIBE_ALL}: " + ", ".join(unknown))
    if "subscriberIdString" not in body:
        raise InvalidMessage("missing required field(s): subscriberIdString")
    return UnsubscribeAll(
        message=message,
        email=fields.email(body["subscriberIdString"]),
        channel="EMAIL"
        if body.get("channel") is None
        else fields.enum("channel", body["channel"], fields.CHANNELS),
        business_unit_id=fields.business_unit_id(body.get("businessUnitId")),
        occurred_at_us=fields.occurred_at(body.get("occurredAt"), latest),
        portal_id=fields.portal_id(body.get("portalId")),
    )


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default
