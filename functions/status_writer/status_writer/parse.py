"""Parse and validate SQS records against the message contract. Pure: no I/O.

A body is one JSON object with HubSpot's PublicStatusRequest fields plus an optional ``occurredAt``.
Bodies that SNS (``Type: Notification``) or EventBridge (``detail``) wrapped are unwrapped first.
Anything that cannot become a valid batch/write input is rejected here with a reason, so it never
reaches HubSpot.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from status_writer.model import Message, Rejected, StatusUpdate, UnsubscribeAll

STATUS_STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})
CHANNELS = frozenset({"EMAIL"})
LEGAL_BASES = frozenset(
    {
        "CONSENT_WITH_NOTICE",
        "LEGITIMATE_INTEREST_CLIENT",
        "LEGITIMATE_INTEREST_OTHER",
        "LEGITIMATE_INTEREST_PQL",
        "NON_GDPR",
        "PERFORMANCE_OF_CONTRACT",
        "PROCESS_AND_STORE",
    }
)
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
UNSUBSCRIBE_FIELDS = frozenset({"action", "subscriberIdString", "channel", "businessUnitId", "occurredAt"})
INT64_MAX = 2**63 - 1
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit
MAX_LOCAL_PART = 64
MAX_EXPLANATION_LENGTH = 2000
MAX_WRAPPING_DEPTH = 3
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Free text HubSpot stores and shows: no C0/C1 controls, no lone surrogates (the UTF-8 encoder refuses
# them: a JavaScript producer emits one when it cuts an emoji in half), no non-characters, and no bidi
# embeddings, overrides or isolates (they make a stored text read differently from what it holds).
_UNSAFE_TEXT = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\u202a-\u202e\u2066-\u2069]"
    "|[\ufffe\uffff\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff\U0009fffe"
    "\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff\U000dfffe\U000dffff"
    "\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)
# A full date-time: calendar date, "T" (or a space), hours and minutes, optional seconds and fraction,
# optional offset. Date-only, week-date, ordinal and basic (no separators) forms are refused.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?"
)
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CLOCK_AHEAD = timedelta(days=1)  # how far occurredAt may be ahead of when SQS accepted the message


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class InvalidMessage(ValueError):
    """The body breaks the message contract; the text says how."""


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


def _latest_occurred_at(message: Message, now_ms: int | None) -> datetime:
    """The newest occurredAt believable for this message: a day past when SQS accepted it."""
    reference_ms = message.sent_timestamp_ms
    if reference_ms <= 0:
        reference_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _EPOCH + timedelta(milliseconds=reference_ms) + MAX_CLOCK_AHEAD


def _loads(raw: str) -> Any:
    if not raw.strip():
        raise InvalidMessage("body is empty")
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys)
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


def _status_update(message: Message, body: Any, latest: datetime) -> StatusUpdate:
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
        email=_email(body["subscriberIdString"]),
        subscription_id=_subscription_id(body["subscriptionId"]),
        status_state=_enum("statusState", body["statusState"], STATUS_STATES),
        channel="EMAIL" if body.get("channel") is None else _enum("channel", body["channel"], CHANNELS),
        legal_basis=None
        if body.get("legalBasis") is None
        else _enum("legalBasis", body["legalBasis"], LEGAL_BASES),
        legal_basis_explanation=_explanation(body.get("legalBasisExplanation")),
        occurred_at_us=_occurred_at(body.get("occurredAt"), latest),
    )


def _unsubscribe_all(message: Message, body: dict[str, Any], latest: datetime) -> UnsubscribeAll:
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
        email=_email(body["subscriberIdString"]),
        channel="EMAIL" if body.get("channel") is None else _enum("channel", body["channel"], CHANNELS),
        business_unit_id=_business_unit_id(body.get("businessUnitId")),
        occurred_at_us=_occurred_at(body.get("occurredAt"), latest),
    )


def _business_unit_id(value: Any) -> int | None:
    """A brand id (0 is the default brand); absent or null means every brand."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise InvalidMessage("businessUnitId must be a non-negative 64-bit integer")
    return value


def _email(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidMessage("subscriberIdString must be a string (the contact's email address)")
    if _CONTROL.search(value):
        raise InvalidMessage("subscriberIdString contains control characters")
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidMessage(f"subscriberIdString is longer than {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.fullmatch(value) or len(value.split("@", 1)[0]) > MAX_LOCAL_PART:
        raise InvalidMessage("subscriberIdString is not a valid email address")
    return value


def _subscription_id(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidMessage("subscriptionId must be an integer, not a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int):
        raise InvalidMessage("subscriptionId must be an integer (or a string of digits)")
    if not 1 <= value <= INT64_MAX:
        raise InvalidMessage("subscriptionId must be a positive 64-bit integer")
    return value


def _enum(name: str, value: Any, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = (
            repr(value)
            if isinstance(value, str | int | float | bool) or value is None
            else type(value).__name__
        )
        raise InvalidMessage(f"{name} must be one of {', '.join(sorted(allowed))}; got {shown[:60]}")
    return value


def _explanation(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage("legalBasisExplanation must be a string")
    if len(value) > MAX_EXPLANATION_LENGTH:
        raise InvalidMessage(f"legalBasisExplanation is longer than {MAX_EXPLANATION_LENGTH} characters")
    unsafe = _UNSAFE_TEXT.search(value)
    if unsafe:
        found = unsafe.group()
        raise InvalidMessage(
            f"legalBasisExplanation contains {_kind_of(found)} {found!a} at {unsafe.start()}"
        )
    return value


def _kind_of(character: str) -> str:
    code = ord(character)
    if code <= 0x9F:
        return "control characters"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return "a bidi override"
    return "a non-character"


def _occurred_at(value: Any, latest: datetime) -> int | None:
    """ISO-8601 date-time to microseconds since the epoch; a time without an offset is taken as UTC.
    Only 2000-01-01 up to a day past ``latest``'s reference is believable: a far-future time would make
    every later genuine update of the key "superseded" for as long as the ordering ledger remembers it."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidMessage("occurredAt must be an ISO-8601 date-time string")
    if not _DATE_TIME.fullmatch(value):
        raise InvalidMessage(f"occurredAt is not a full ISO-8601 date-time: {value[:40]!a}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessage(f"occurredAt is not an ISO-8601 date-time: {value[:40]!a}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < EARLIEST_OCCURRED_AT:
        raise InvalidMessage(f"occurredAt {value} is before {EARLIEST_OCCURRED_AT:%Y-%m-%d}")
    if moment > latest:
        raise InvalidMessage(f"occurredAt {value} is more than a day ahead of when the message was sent")
    return (moment - _EPOCH) // _MICROSECOND


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default
