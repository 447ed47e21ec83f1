"""One API request from bytes to `Outcome`: route → faults → auth → scopes → rate limits → body → handler,
then headers, the request log and the counters.

Order matters and is part of the documented behaviour: network-level faults (drop, reset, hang, 5xx)
strike before authentication, as a gateway would; injected and real 429s come after authentication and
scopes; only requests that pass the rate limiter consume quota (so 401, 403, 404, 413, 429 and injected
faults never do, while a 400 from validation does).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from local.hubspot_emulator import oauth, routes
from local.hubspot_emulator.auth import Principal, fingerprint, missing_scopes, missing_scopes_error
from local.hubspot_emulator.faults import NO_FAULT, FaultDecision
from local.hubspot_emulator.messages import Call, Outcome, Request
from local.hubspot_emulator.portal import PortalState
from local.hubspot_emulator.ratelimit import DAILY, TEN_SECONDLY, RateState
from local.hubspot_emulator.shapes import ApiError, error_body, iso_ms, rate_limit_body
from local.hubspot_emulator.validation import parse_json_body

JSON_TYPE = "application/json;charset=utf-8"
_LOSSES = frozenset({"drop", "reset", "hang"})
_AFTER_LOSSES = {"drop-after": "drop", "hang-after": "hang"}
_GATEWAY_HTML = (
    "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1></center>"
    "<hr><center>cloudflare</center></body></html>"
)
_UNSET: Any = object()
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


@dataclass(slots=True)
class _Trace:
    """What happened to one request, for its headers, log entry and counters."""

    correlation_id: str
    requested_at: float
    query: dict[str, list[str]]
    route: str = "unknown"
    decision: FaultDecision = NO_FAULT
    principal: Principal | None = None
    rate: RateState | None = None
    policy: str | None = None
    loss: str | None = None
    logged_body: Any = _UNSET
    applied: list[str] = field(default_factory=list)


def process(core: PortalState, req: Request) -> Outcome:
    """Answer one API request. Never raises: unexpected errors become a 500 in the `Error` shape."""
    trace = _Trace(str(uuid.uuid4()), time.time(), parse_qs(req.query, keep_blank_values=True))
    config = core.config
    headers: list[tuple[str, str]] = []
    try:
        status, payload = _answer(core, req, trace, headers)
    except ApiError as err:
        status, payload = err.status, err.body(trace.correlation_id)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        status = 500
        payload = error_body("INTERNAL_ERROR", "Internal emulator error", trace.correlation_id)
    if isinstance(payload, bytes):
        body = payload
    else:
        body = _encode(payload).encode()
        headers.append(("Content-Type", JSON_TYPE))
    rate = trace.rate or RateState(
        config.rate_limit_max, config.rate_limit_max, config.rate_limit_interval_ms
    )
    headers.extend(rate.headers())
    headers.append(("X-HubSpot-Correlation-Id", trace.correlation_id))
    if status == 429 and config.retry_after_seconds is not None:
        headers.append(("Retry-After", str(config.retry_after_seconds)))
    _record(core, req, trace, None if trace.loss else status, payload)
    decision = trace.decision
    if trace.loss:
        return Outcome(0, [], b"", trace.loss, decision.delay_s, core.plan.faults.hang_s, close=True)
    return Outcome(status, headers, body, "respond", decision.delay_s)


def _answer(
    core: PortalState, req: Request, trace: _Trace, headers: list[tuple[str, str]]
) -> tuple[int, Any]:
    config = core.config
    if req.body_too_large:
        raise ApiError(
            413,
            "VALIDATION_ERROR",
            f"Request body exceeds the maximum of {config.max_body_bytes} bytes",
            code="PAYLOAD_TOO_LARGE",
        )
    resolved = routes.resolve(req.method, req.path, config.served_versions)
    route = resolved.route
    trace.route = route.name
    with core.lock:
        if core.plan.applies_to(req.path):
            trace.decision = core.plan.decide()
    action = trace.decision.action
    if action in _LOSSES:
        trace.loss = action
        return 0, b""
    if action in ("500", "502", "503", "504"):
        return _server_error(int(action), trace.correlation_id, headers)
    if route is routes.OAUTH_TOKEN:
        form = oauth.parse_form(req.body, req.content_type)
        trace.logged_body = oauth.redacted(form)
        with core.lock:
            return oauth.token_reply(core.registry, form, config, time.monotonic(), trace.correlation_id)

    now = time.monotonic()
    with core.lock:
        trace.principal = principal = core.registry.authenticate(req.authorization, now)
        missing = missing_scopes(route.scopes, principal.scopes)
        forced = trace.decision.forced_missing_scopes
        if forced or missing is not None:
            trace.rate = core.limiter.peek(principal.rate_key, principal.kind != "oauth", config, now)
            if forced:
                trace.applied.append("403")
            raise missing_scopes_error(missing or sorted(set().union(*route.scopes)))
        policy = {"429": TEN_SECONDLY, "429-daily": DAILY}.get(action)
        if policy is not None:
            trace.rate = core.limiter.peek(principal.rate_key, principal.kind != "oauth", config, now)
            trace.rate = trace.rate.exhausted(policy)
        else:
            policy, trace.rate = core.limiter.admit(
                principal.rate_key, principal.kind != "oauth", config, now
            )
    if policy is not None:
        trace.policy = policy
        return 429, rate_limit_body(policy, trace.correlation_id, config.portal_id)

    trace.logged_body = None
    body = parse_json_body(req.body, req.content_type) if route.body == "json" else None
    trace.logged_body = body
    assert route.handler is not None
    call = Call(
        config,
        core.store,
        core.lock,
        trace.query,
        body,
        resolved.subscriber,
        trace.decision,
        trace.requested_at,
        resolved.version,
    )
    try:
        reply = route.handler(call)
    finally:
        trace.applied.extend(call.applied)
    trace.loss = _AFTER_LOSSES.get(action)
    return reply.status, reply.body


def _server_error(status: int, correlation_id: str, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    """Injected 5xx: 500/503 in the `Error` shape, 502/504 as a CDN's HTML page (clients must cope)."""
    if status == 500:
        return 500, error_body("INTERNAL_ERROR", "An internal error occurred.", correlation_id)
    if status == 503:
        return 503, error_body(
            "SERVICE_UNAVAILABLE", "The service is temporarily unavailable, please retry.", correlation_id
        )
    reason = "Bad Gateway" if status == 502 else "Gateway Timeout"
    headers.append(("Content-Type", "text/html; charset=UTF-8"))
    return status, _GATEWAY_HTML.format(code=status, reason=reason).encode()


def _record(core: PortalState, req: Request, trace: _Trace, status: int | None, payload: Any = None) -> None:
    decision = trace.decision
    faults = [] if decision.action == "ok" else [decision.action]
    if decision.delay_s > 0:
        faults.append("latency")
    faults.extend(trace.applied)
    entry = {
        "at": iso_ms(trace.requested_at),
        "method": req.method,
        "path": req.path,
        "query": {k: v[0] for k, v in trace.query.items()},
        "body": _body_for_log(req, trace),
        "status": status,
        "route": trace.route,
        "token_fingerprint": _token_fingerprint(req.authorization),
        "correlation_id": trace.correlation_id,
        "faults": faults,
        "duration_ms": round((time.time() - trace.requested_at) * 1000, 3),
    }
    if trace.route in _READ_ROUTES and isinstance(payload, dict):
        entry["held"] = _held(payload)
    with core.lock:
        core.log.append(entry)
        core.tally.record(trace.route, status, trace.policy if status == 429 else None, faults)


_READ_ROUTES = frozenset(
    {
        "statuses/batch/read",
        "statuses/batch/unsubscribe-all/read",
        "statuses/{subscriberIdString}",
        "statuses/{subscriberIdString}/unsubscribe-all",
    }
)


def _held(payload: dict[str, Any]) -> list[str]:
    """What a read answered, one short line per status (chaos explains a wrong key with it)."""
    found = []
    listed = payload.get("results")
    results: list[Any] = listed if isinstance(listed, list) else [payload]
    for result in results:
        if not isinstance(result, dict):
            continue
        email = result.get("subscriberIdString")
        for status in result.get("statuses") or []:
            if isinstance(status, dict):
                found.append(
                    f"{email} {status.get('subscriptionId')}={status.get('status')} "
                    f"{status.get('source')} {status.get('timestamp')}"
                )
        for wide in result.get("wideStatuses") or []:
            if isinstance(wide, dict):
                found.append(
                    f"{email} {wide.get('wideStatusType')}:{wide.get('businessUnitId')}="
                    f"{wide.get('status')} {wide.get('timestamp')}"
                )
    return found


def _body_for_log(req: Request, trace: _Trace) -> Any:
    """The parsed body; requests rejected before parsing get a best-effort parse (never a form's secrets)."""
    if trace.logged_body is not _UNSET:
        return trace.logged_body
    if not req.body or req.body_too_large or trace.route == routes.OAUTH_TOKEN.name:
        return None
    try:
        return parse_json_body(req.body, None)
    except ApiError:
        return None


def _token_fingerprint(authorization: str | None) -> str | None:
    if not authorization:
        return None
    _, _, token = authorization.strip().partition(" ")
    return fingerprint(token.strip() or authorization.strip())
