"""Handlers for the Communication Preferences routes. Each takes a `Call` and returns a `Reply` or raises
`ApiError`. Validation happens before the lock; the lock is held only while the store is touched."""

from __future__ import annotations

import hashlib
from typing import Any

from local.hubspot_emulator.config import EmulatorConfig, Subscription
from local.hubspot_emulator.messages import Call, Reply
from local.hubspot_emulator.shapes import ApiError, iso_ms, standard_error, validation_error
from local.hubspot_emulator.validation import (
    StatusRequest,
    batch_status_requests,
    email_inputs,
    is_valid_email,
    link_request,
    partial_status_request,
    query_bool,
    query_channel,
    query_int,
)

DEFINITION_TIMESTAMP = "2024-01-01T00:00:00.000Z"
LINK_BASE = "https://preferences.emulator.invalid"


def batch_write(call: Call) -> Reply:
    """`POST statuses/batch/write`: per-item outcomes, the valid items applied in input order."""
    cfg = call.config
    items = batch_status_requests(call.body, batch_limit=cfg.batch_limit, strict=cfg.strict)
    started = iso_ms()
    problems = [(item, _item_problem(item, cfg)) for item in items]
    bad = [(item, msg) for item, msg in problems if msg is not None]
    if bad and call.decision.whole_batch_400:
        call.applied.append("batch-400")
        raise _whole_batch_error(bad, len(items))
    defs = cfg.definitions
    now = iso_ms()
    with call.lock:
        store = call.store
        results = [
            store.write(
                item.email.lower(),
                defs[item.subscription_id],
                item.channel,
                item.state,
                legal_basis=item.legal_basis,
                legal_basis_explanation=item.legal_basis_explanation,
                now=now,
                source=cfg.status_source,
                brands=cfg.brands,
            )
            for item, msg in problems
            if msg is None
        ]
    errors = [_item_error(call, msg, item.email, item.subscription_id) for item, msg in bad]
    return _batch_reply(call, results, errors, started)


def batch_read(call: Call) -> Reply:
    """`POST statuses/batch/read`: stored statuses per email (`businessUnitId` filters by brand)."""
    cfg = call.config
    channel = query_channel(call.query)
    brand = query_int(call.query, "businessUnitId")
    emails = email_inputs(call.body, batch_limit=cfg.batch_limit, strict=cfg.strict)
    started = iso_ms()
    valid = [e for e in emails if is_valid_email(e)]
    with call.lock:
        results = [
            {"subscriberIdString": e.lower(), "statuses": call.store.statuses(e.lower(), channel, brand)}
            for e in valid
        ]
    errors = [_item_error(call, _bad_email(e), e, None) for e in emails if not is_valid_email(e)]
    return _batch_reply(call, results, errors, started)


def batch_unsubscribe_all(call: Call) -> Reply:
    """`POST statuses/batch/unsubscribe-all`: portal-wide, or brand-wide with `businessUnitId`."""
    cfg = call.config
    channel = query_channel(call.query)
    brand = query_int(call.query, "businessUnitId")
    verbose = query_bool(call.query, "verbose")
    emails = email_inputs(call.body, batch_limit=cfg.batch_limit, strict=cfg.strict)
    started = iso_ms()
    bad = [e for e in emails if not is_valid_email(e)]
    if bad and call.decision.whole_batch_400:
        call.applied.append("batch-400")
        raise validation_error(_bad_email(bad[0]), code="INVALID_INPUT", where="inputs")
    now = iso_ms()
    with call.lock:
        changed = [
            (e.lower(), _unsubscribe(call, e.lower(), channel, brand, now))
            for e in emails
            if is_valid_email(e)
        ]
    results = [{"subscriberIdString": e, "statuses": s} for e, s in changed] if verbose else []
    errors = [_item_error(call, _bad_email(e), e, None) for e in bad]
    return _batch_reply(call, results, errors, started)


def batch_unsubscribe_all_read(call: Call) -> Reply:
    """`POST statuses/batch/unsubscribe-all/read`: wide opt-outs per email."""
    cfg = call.config
    channel = query_channel(call.query)
    brand = query_int(call.query, "businessUnitId")
    emails = email_inputs(call.body, batch_limit=cfg.batch_limit, strict=cfg.strict)
    started = iso_ms()
    with call.lock:
        results = [
            {
                "subscriberIdString": e.lower(),
                "wideStatuses": call.store.wide_statuses(e.lower(), channel, brand),
            }
            for e in emails
            if is_valid_email(e)
        ]
    errors = [_item_error(call, _bad_email(e), e, None) for e in emails if not is_valid_email(e)]
    return _batch_reply(call, results, errors, started)


def get_status(call: Call) -> Reply:
    """`GET statuses/{subscriberIdString}`: the contact's stored statuses."""
    channel = query_channel(call.query)
    brand = query_int(call.query, "businessUnitId")
    email = _path_email(call)
    started = iso_ms()
    with call.lock:
        results = call.store.statuses(email, channel, brand)
    return Reply(200, _envelope(results, call, started))


def post_status(call: Call) -> Reply:
    """`POST statuses/{subscriberIdString}`: one write; a semantic problem fails the whole request."""
    cfg = call.config
    email = _path_email(call)
    item = partial_status_request(call.body, email, strict=cfg.strict)
    problem = _item_problem(item, cfg)
    if problem is not None:
        raise validation_error(problem, code="INVALID_INPUT")
    started = iso_ms()
    with call.lock:
        result = call.store.write(
            email,
            cfg.definitions[item.subscription_id],
            item.channel,
            item.state,
            legal_basis=item.legal_basis,
            legal_basis_explanation=item.legal_basis_explanation,
            now=iso_ms(),
            source=cfg.status_source,
            brands=cfg.brands,
        )
    return Reply(200, _envelope([result], call, started))


def get_unsubscribe_all(call: Call) -> Reply:
    """`GET statuses/{subscriberIdString}/unsubscribe-all`: wide opt-outs (empty when none)."""
    channel = query_channel(call.query)
    brand = query_int(call.query, "businessUnitId")
    email = _path_email(call)
    started = iso_ms()
    with call.lock:
        results = call.store.wide_statuses(email, channel, brand)
    return Reply(200, _envelope(results, call, started))


def post_unsubscribe_all(call: Call) -> Reply:
    """`POST statuses/{subscriberIdString}/unsubscribe-all`: opt one contact out of all."""
    channel = query_channel(call.query)
    brand = query_int(call.query, "businessUnitId")
    verbose = query_bool(call.query, "verbose")
    email = _path_email(call)
    started = iso_ms()
    with call.lock:
        changed = _unsubscribe(call, email, channel, brand, iso_ms())
    return Reply(200, _envelope(changed if verbose else [], call, started))


def definitions(call: Call) -> Reply:
    """`GET definitions`: subscription definitions (`businessUnitId` filters by brand)."""
    brand = query_int(call.query, "businessUnitId")
    translations = query_bool(call.query, "includeTranslations")
    started = iso_ms()
    results = [
        _definition(s, translations)
        for s in call.config.subscriptions
        if brand is None or s.business_unit_id == brand
    ]
    return Reply(200, _envelope(results, call, started))


def generate_links(call: Call) -> Reply:
    """`POST links/generate`: opaque preference-centre URLs for a contact."""
    query_channel(call.query)
    brand = query_int(call.query, "businessUnitId") or 0
    req = link_request(call.body, strict=call.config.strict)
    if not is_valid_email(req.email):
        raise validation_error(_bad_email(req.email), code="INVALID_INPUT", where="subscriberIdString")
    if req.subscription_id is not None and req.subscription_id not in call.config.definitions:
        raise validation_error(
            f"Subscription {req.subscription_id} does not exist", code="INVALID_INPUT", where="subscriptionId"
        )
    tag = hashlib.sha256(f"{req.email.lower()}|{brand}".encode()).hexdigest()[:16]
    body: dict[str, Any] = {
        "subscriberIdString": req.email.lower(),
        "managePreferencesUrl": f"{LINK_BASE}/hs/manage-preferences/{tag}?bu={brand}",
        "unsubscribeAllUrl": f"{LINK_BASE}/hs/unsubscribe-all/{tag}?bu={brand}",
    }
    if req.subscription_id is not None:
        body["unsubscribeSingleUrl"] = (
            f"{LINK_BASE}/hs/unsubscribe/{tag}?subscriptionId={req.subscription_id}"
        )
    return Reply(200, body)


def _unsubscribe(call: Call, email: str, channel: str, brand: int | None, now: str) -> list[dict[str, Any]]:
    """Caller holds the lock."""
    cfg = call.config
    return call.store.unsubscribe_all(
        email, channel, brand, cfg.subscriptions, now=now, source=cfg.status_source
    )


def _item_problem(item: StatusRequest, cfg: EmulatorConfig) -> str | None:
    """Why one write cannot be applied, or None. These are per-item errors, not whole-request ones."""
    if not is_valid_email(item.email):
        return _bad_email(item.email)
    sub = cfg.definitions.get(item.subscription_id)
    if sub is None:
        return f"Subscription {item.subscription_id} does not exist"
    if not sub.is_active:
        return f"Subscription {item.subscription_id} is not active"
    if cfg.gdpr_enabled and (item.legal_basis is None or not item.legal_basis_explanation):
        return (
            "legalBasis and legalBasisExplanation are required because this portal has GDPR features enabled"
        )
    return None


def _item_error(call: Call, message: str, email: str, subscription_id: int | None) -> dict[str, Any]:
    if call.decision.nameless_context:
        if "nameless" not in call.applied:
            call.applied.append("nameless")
        return standard_error("VALIDATION_ERROR", message, {})
    keys = call.config.error_context_keys
    context: dict[str, list[str]] = {keys[0]: [email]}
    if subscription_id is not None and len(keys) > 1:
        context.setdefault(keys[1], []).append(str(subscription_id))
    return standard_error("VALIDATION_ERROR", message, context)


def _whole_batch_error(bad: list[tuple[StatusRequest, str]], total: int) -> ApiError:
    return ApiError(
        400,
        "VALIDATION_ERROR",
        f"{len(bad)} of {total} inputs are invalid; nothing was applied. First: {bad[0][1]}",
        errors=[
            {"message": msg, "code": "INVALID_INPUT", "in": f"inputs[{item.position}]"} for item, msg in bad
        ],
    )


def _batch_reply(
    call: Call, results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str
) -> Reply:
    if call.decision.processing:
        call.applied.append("processing")
        return Reply(200, _envelope([], call, started, status="PROCESSING"))
    body = _envelope(results, call, started)
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
        return Reply(call.config.partial_status(call.version), body)
    return Reply(200, body)


def _envelope(results: list[Any], call: Call, started: str, status: str = "COMPLETE") -> dict[str, Any]:
    return {
        "status": status,
        "results": results,
        "requestedAt": iso_ms(call.requested_at),
        "startedAt": started,
        "completedAt": iso_ms(),
    }


def _path_email(call: Call) -> str:
    email = call.subscriber or ""
    if not is_valid_email(email):
        raise validation_error(_bad_email(email), code="INVALID_INPUT", where="subscriberIdString")
    return email.lower()


def _bad_email(email: str) -> str:
    return f"Invalid email address: {email[:200]!r}"


def _definition(sub: Subscription, translations: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(sub.id),
        "name": sub.name,
        "description": sub.description,
        "purpose": sub.purpose,
        "communicationMethod": sub.communication_method,
        "isActive": sub.is_active,
        "isDefault": sub.is_default,
        "isInternal": sub.is_internal,
        "createdAt": DEFINITION_TIMESTAMP,
        "updatedAt": DEFINITION_TIMESTAMP,
        "businessUnitId": sub.business_unit_id,
    }
    if translations:
        out["subscriptionTranslations"] = []
    return out
