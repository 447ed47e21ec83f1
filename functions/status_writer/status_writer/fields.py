"""The message contract's field rules: identifiers, enums, free text and the occurredAt window.

Pure: no I/O. Each rule takes one JSON value and returns it as the pipeline holds it, or raises
``InvalidMessage`` with a text fit for the DLQ's reason (README: Message contract).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

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
INT64_MAX = 2**63 - 1
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit
MAX_LOCAL_PART = 64
MAX_EXPLANATION_LENGTH = 2000
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

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EARLIEST_US = (EARLIEST_OCCURRED_AT - EPOCH) // _MICROSECOND
MAX_CLOCK_AHEAD_US = MAX_CLOCK_AHEAD // _MICROSECOND


class InvalidMessage(ValueError):
    """The body breaks the message contract; the text says how."""


def business_unit_id(value: Any) -> int | None:
    """A brand id (0 is the default brand); absent or null means every brand."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise InvalidMessage("businessUnitId must be a non-negative 64-bit integer")
    return value


def portal_id(value: Any) -> str | None:
    """HubSpot's account id (README: Many portals): a positive integer, or a string of its ASCII
    digits; kept as its digits without leading zeros, so ``7`` and ``"007"`` name one portal."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= INT64_MAX:
        raise InvalidMessage(
            "portalId must be a positive integer (HubSpot's account id) or a string of its digits"
        )
    return str(value)


def email(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidMessage("subscriberIdString must be a string (the contact's email address)")
    if _CONTROL.search(value):
        raise InvalidMessage("subscriberIdString contains control characters")
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidMessage(f"subscriberIdString is longer than {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.fullmatch(value) or len(value.split("@", 1)[0]) > MAX_LOCAL_PART:
        raise InvalidMessage("subscriberIdString is not a valid email address")
    return value


def subscription_id(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidMessage("subscriptionId must be an integer, not a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int):
        raise InvalidMessage("subscriptionId must be an integer (or a string of digits)")
    if not 1 <= value <= INT64_MAX:
        raise InvalidMessage("subscriptionId must be a positive 64-bit integer")
    return value


def enum(name: str, value: Any, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = (
            repr(value)
            if isinstance(value, str | int | float | bool) or value is None
            else type(value).__name__
        )
        raise InvalidMessage(f"{name} must be one of {', '.join(sorted(allowed))}; got {shown[:60]}")
    return value


def explanation(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage("legalBasisExplanation must be a string")
    if len(value) > MAX_EXPLANATION_LENGTH:
        raise InvalidMessage(f"legalBasisExplanation is longer than {MAX_EXPLANATION_LENGTH} characters")
    # Every unsafe character but the C0 controls and DEL is outside ASCII, and most text is ASCII.
    unsafe = _CONTROL.search(value) if value.isascii() else _UNSAFE_TEXT.search(value)
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


def occurred_at(value: Any, latest_us: int) -> int | None:
    """ISO-8601 date-time to microseconds since the epoch; a time without an offset is taken as UTC.
    Only 2000-01-01 up to ``latest_us`` (a day past when SQS accepted the message) is believable: a
    far-future time would make every later genuine update of the key "superseded" for as long as the
    ordering ledger remembers it. Compared as integers: this runs once per record."""
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
    moment_us = (moment - EPOCH) // _MICROSECOND
    if moment_us < _EARLIEST_US:
        raise InvalidMessage(f"occurredAt {value} is before {EARLIEST_OCCURRED_AT:%Y-%m-%d}")
    if moment_us > latest_us:
        raise InvalidMessage(f"occurredAt {value} is more than a day ahead of when the message was sent")
    return moment_us
