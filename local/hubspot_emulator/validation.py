"""Whole-request validation: JSON parsing, body shapes and query parameters.

Everything here fails the whole request with a 400 `VALIDATION_ERROR` (or 415 for a non-JSON content
type), the way HubSpot's deserializer rejects a body before any item is processed. Each error carries one
`ErrorDetail` whose `code` names the rule (`INVALID_JSON`, `REQUIRED`, `INVALID_TYPE`, `INVALID_ENUM`,
`UNRECOGNIZED_FIELD`, `TOO_FEW`, `TOO_MANY`) and whose `in` names the field, e.g. `inputs[3].statusState`.
Per-item semantic problems (unknown subscription, bad email, GDPR) are not checked here.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from local.hubspot_emulator.shapes import ApiError, validation_error

CHANNELS = ("EMAIL",)
STATUS_STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED")
LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
)
MAX_JSON_DEPTH = 64
_BRACKET_SCAN_THRESHOLD = 4 * MAX_JSON_DEPTH

_STATUS_FIELDS = frozenset(
    {"subscriberIdString", "subscriptionId", "channel", "statusState", "legalBasis", "legalBasisExplanation"}
)
_PARTIAL_FIELDS = _STATUS_FIELDS - {"subscriberIdString"}
_REQUIRED_PARTIAL = ("subscriptionId", "channel", "statusState")
_REQUIRED_STATUS = ("subscriberIdString", *_REQUIRED_PARTIAL)
_LINK_FIELDS = frozenset({"subscriberIdString", "subscriptionId", "language"})
_CHANNEL_SET = frozenset(CHANNELS)
_STATE_SET = frozenset(STATUS_STATES)
_BASIS_SET = frozenset(LEGAL_BASES)
_ENUMS = {
    "channel": ("Channel", frozenset(CHANNELS), CHANNELS),
    "statusState": ("StatusState", frozenset(STATUS_STATES), STATUS_STATES),
    "legalBasis": ("LegalBasis", frozenset(LEGAL_BASES), LEGAL_BASES),
}
_EMAIL = re.compile(r"[^@\s\"<>(),;:\[\]]+@[^@\s\"<>(),;:\[\]]+\.[^@\s\"<>(),;:\[\].]{2,}")
_new_tuple = tuple.__new__  # builds a NamedTuple without the Python-level __new__ (hot path)
_DEPTH_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_JSON_MEDIA = re.compile(r"\s*application/([\w.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)


class StatusRequest(NamedTuple):
    """One validated `PublicStatusRequest`; `position` is its index in `inputs`."""

    position: int
    email: str
    subscription_id: int
    channel: str
    state: str
    legal_basis: str | None
    legal_basis_explanation: str | None


class LinkRequest(NamedTuple):
    """A validated `LinkGenerationRequest`."""

    email: str
    subscription_id: int | None
    language: str | None


def is_valid_email(value: str) -> bool:
    """A pragmatic email check: one `@`, no spaces or delimiters, a dot in the domain."""
    return _EMAIL.fullmatch(value) is not None


def parse_json_body(raw: bytes, content_type: str | None) -> Any:
    """Decode a JSON request body, or raise the HubSpot-shaped error for why it cannot be read."""
    if content_type and not _JSON_MEDIA.match(content_type):
        raise ApiError(
            415,
            "VALIDATION_ERROR",
            f"Unsupported Media Type: {content_type!s:.100} (expected application/json)",
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    if not raw or raw.isspace():
        raise validation_error(
            "Invalid input JSON: No content to map due to end-of-input", code="INVALID_JSON"
        )
    if raw.count(b"[") + raw.count(b"{") > _BRACKET_SCAN_THRESHOLD and _depth(raw) > MAX_JSON_DEPTH:
        raise validation_error(
            f"Invalid input JSON: nesting depth exceeds the maximum of {MAX_JSON_DEPTH}", code="INVALID_JSON"
        )
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise validation_error("Invalid input JSON: body is not valid UTF-8", code="INVALID_JSON") from None
    except RecursionError:
        raise validation_error("Invalid input JSON: nesting too deep", code="INVALID_JSON") from None
    except ValueError as exc:
        raise validation_error(f"Invalid input JSON: {exc}", code="INVALID_JSON") from None


def batch_status_requests(body: Any, *, batch_limit: int, strict: bool) -> list[StatusRequest]:
    """`BatchInputPublicStatusRequest` → validated items, in input order.

    The loop is the hot path of the emulator: a well-formed item is accepted with a few type and set
    checks; anything else goes through `_status_request`, which names the exact problem.
    """
    items = _inputs(body, batch_limit, strict, "BatchInputPublicStatusRequest")
    out = []
    for i, item in enumerate(items):
        if type(item) is dict and (not strict or item.keys() <= _STATUS_FIELDS):
            get = item.get
            email, sid, channel = get("subscriberIdString"), get("subscriptionId"), get("channel")
            state, basis, why = get("statusState"), get("legalBasis"), get("legalBasisExplanation")
            if (
                type(email) is str
                and type(sid) is int
                and type(channel) is str
                and channel in _CHANNEL_SET
                and type(state) is str
                and state in _STATE_SET
                and (basis is None or (type(basis) is str and basis in _BASIS_SET))
                and (why is None or type(why) is str)
            ):
                out.append(_new_tuple(StatusRequest, (i, email, sid, channel, state, basis, why)))
                continue
        out.append(_status_request(item, i, f"inputs[{i}]", strict, None))
    return out


def partial_status_request(body: Any, email: str, *, strict: bool) -> StatusRequest:
    """`PartialPublicStatusRequest` (single-contact POST; the email comes from the path)."""
    return _status_request(body, 0, "", strict, email)


def email_inputs(body: Any, *, batch_limit: int, strict: bool) -> list[str]:
    """`BatchInputString` → the list of emails (strings)."""
    items = _inputs(body, batch_limit, strict, "BatchInputString")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise validation_error(
                f"Invalid input JSON: Cannot deserialize value of type `String` from {_json_type(item)}",
                code="INVALID_TYPE",
                where=f"inputs[{i}]",
            )
    return items


def link_request(body: Any, *, strict: bool) -> LinkRequest:
    """`LinkGenerationRequest`."""
    obj = _object(body, "LinkGenerationRequest", "")
    if strict:
        _no_unknown(obj, _LINK_FIELDS, "LinkGenerationRequest", "")
    email = _string(obj, "subscriberIdString", "", required=True, cls="LinkGenerationRequest")
    sid = obj.get("subscriptionId")
    subscription_id = None if sid is None else _long(sid, "subscriptionId", strict)
    language = _string(obj, "language", "", required=False, cls="LinkGenerationRequest")
    assert email is not None
    return LinkRequest(email, subscription_id, language)


def query_channel(query: dict[str, list[str]]) -> str:
    """The required `channel` query parameter (only `EMAIL` exists)."""
    values = query.get("channel")
    if not values or not values[0]:
        raise validation_error("Missing required query parameter: channel", code="REQUIRED", where="channel")
    return _enum_value("channel", values[0], "channel")


def query_int(query: dict[str, list[str]], name: str) -> int | None:
    """An optional int64 query parameter such as `businessUnitId`."""
    values = query.get(name)
    if not values:
        return None
    try:
        return int(values[0], 10)
    except ValueError:
        raise validation_error(
            f"Invalid query parameter {name}: {values[0]!r:.60} is not a valid long value",
            code="INVALID_TYPE",
            where=name,
        ) from None


def query_bool(query: dict[str, list[str]], name: str) -> bool:
    """An optional boolean query parameter such as `verbose` (default false)."""
    values = query.get(name)
    if not values:
        return False
    value = values[0].lower()
    if value not in ("true", "false"):
        raise validation_error(
            f"Invalid query parameter {name}: {values[0]!r:.60} is not a boolean",
            code="INVALID_TYPE",
            where=name,
        )
    return value == "true"


def _status_request(item: Any, index: int, where: str, strict: bool, path_email: str | None) -> StatusRequest:
    cls = "PublicStatusRequest" if path_email is None else "PartialPublicStatusRequest"
    obj = _object(item, cls, where)
    prefix = f"{where}." if where else ""
    if strict:
        _no_unknown(obj, _STATUS_FIELDS if path_email is None else _PARTIAL_FIELDS, cls, where)
    required = _REQUIRED_STATUS if path_email is None else _REQUIRED_PARTIAL
    missing = [name for name in required if obj.get(name) is None]
    if missing:
        raise validation_error(
            f"Invalid input JSON: Cannot build {cls}, some of required attributes are not set "
            f"[{', '.join(missing)}]",
            code="REQUIRED",
            where=prefix + missing[0],
        )
    email = path_email if path_email is not None else _string(obj, "subscriberIdString", where, True, cls)
    legal_basis = obj.get("legalBasis")
    return StatusRequest(
        index,
        email,  # type: ignore[arg-type]
        _long(obj["subscriptionId"], prefix + "subscriptionId", strict),
        _enum(obj, "channel", prefix),
        _enum(obj, "statusState", prefix),
        None if legal_basis is None else _enum(obj, "legalBasis", prefix),
        _string(obj, "legalBasisExplanation", where, False, cls),
    )


def _inputs(body: Any, batch_limit: int, strict: bool, cls: str) -> list[Any]:
    obj = _object(body, cls, "")
    if strict:
        _no_unknown(obj, frozenset({"inputs"}), cls, "")
    inputs = obj.get("inputs")
    if inputs is None:
        raise validation_error(
            f"Invalid input JSON: Cannot build {cls}, some of required attributes are not set [inputs]",
            code="REQUIRED",
            where="inputs",
        )
    if not isinstance(inputs, list):
        raise validation_error(
            f"Invalid input JSON: Cannot deserialize value of type `List` from {_json_type(inputs)}",
            code="INVALID_TYPE",
            where="inputs",
        )
    if not inputs:
        raise validation_error("inputs must contain at least 1 item", code="TOO_FEW", where="inputs")
    if len(inputs) > batch_limit:
        raise validation_error(
            f"Batch input size {len(inputs)} exceeds the maximum of {batch_limit} inputs",
            code="TOO_MANY",
            where="inputs",
        )
    return inputs


def _object(value: Any, cls: str, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise validation_error(
            f"Invalid input JSON: Cannot deserialize value of type `{cls}` from {_json_type(value)}",
            code="INVALID_TYPE",
            where=where or None,
        )
    return value


def _no_unknown(obj: dict[str, Any], allowed: frozenset[str], cls: str, where: str) -> None:
    extra = obj.keys() - allowed
    if extra:
        name = sorted(extra)[0]
        raise validation_error(
            f'Invalid input JSON: Unrecognized field "{name}" (class {cls}), not marked as ignorable',
            code="UNRECOGNIZED_FIELD",
            where=f"{where}.{name}" if where else name,
        )


def _string(obj: dict[str, Any], name: str, where: str, required: bool, cls: str) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise validation_error(
                f"Invalid input JSON: Cannot build {cls}, some of required attributes are not set [{name}]",
                code="REQUIRED",
                where=f"{where}.{name}" if where else name,
            )
        return None
    if type(value) is not str:
        raise validation_error(
            f"Invalid input JSON: Cannot deserialize value of type `String` from {_json_type(value)}",
            code="INVALID_TYPE",
            where=f"{where}.{name}" if where else name,
        )
    return value


def _long(value: Any, where: str, strict: bool) -> int:
    if type(value) is int:
        return value
    if not strict and type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    raise validation_error(
        f"Invalid input JSON: Cannot deserialize value of type `long` from {_json_type(value)}: "
        "not a valid `long` value",
        code="INVALID_TYPE",
        where=where,
    )


def _enum(obj: dict[str, Any], name: str, prefix: str) -> str:
    return _enum_value(name, obj[name], prefix + name)


def _enum_value(name: str, value: Any, where: str) -> str:
    cls, allowed, ordered = _ENUMS[name]
    if type(value) is str and value in allowed:
        return value
    raise validation_error(
        f"Invalid input JSON: Cannot deserialize value of type `{cls}` from {_json_type(value)}: "
        f"not one of the values accepted for Enum class: [{', '.join(ordered)}]",
        code="INVALID_ENUM",
        where=where,
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"Boolean value ({str(value).lower()})"
    if isinstance(value, str):
        return f'String "{value[:60]}"'
    if isinstance(value, int | float):
        return f"Number value ({value})"
    if isinstance(value, list):
        return "Array value (token `JsonToken.START_ARRAY`)"
    return "Object value (token `JsonToken.START_OBJECT`)"


def _depth(raw: bytes) -> int:
    depth = deepest = 0
    for match in _DEPTH_TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}': enable JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS")
