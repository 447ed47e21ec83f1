"""`/_emulator/...`: the control surface over HTTP (no auth, JSON, snake_case keys). It mirrors the
in-process methods; faults, rate limits and the request log never apply to it.

| Method & path | Body / query | Answer |
| --- | --- | --- |
| GET /_emulator/health | | `{"ok": true}` |
| POST /_emulator/reset | `{"keep_tokens": bool}` (optional) | `{"ok": true}` |
| GET /_emulator/config | | the config dict |
| POST /_emulator/config | any `EmulatorConfig` fields | the new config dict |
| GET /_emulator/faults | | `{"faults": {...}, "remaining_script": [...]}` |
| POST /_emulator/faults | a `Faults` dict, or `{"profile": NAME}` | same as GET |
| POST /_emulator/tokens | `{"token": str, "scopes": [...] or null, "profile"?: str, "kind"?: "private" or "service-key"}` | `{"ok": true}` |
| POST /_emulator/tokens/batch-scopes | `{"token": str, "granted": bool}` | `{"changed": bool}` |
| POST /_emulator/tokens/revoke | `{"token": str}` | `{"revoked": bool}` |
| POST /_emulator/oauth-apps | `client_id`, `client_secret`, `refresh_token`, `scopes`?, TTL? | ok |
| POST /_emulator/actor | `{"email", "action": "status", "subscription_id", "state", "timestamp"?, "source"?, "channel"?}` or `{"email", "action": "unsubscribe_all", "business_unit_id"?, ...}` | `{"results": [...], "wide_statuses": [...]}` |
| GET /_emulator/state | | `{"statuses": [...], "wideStatuses": [...]}` |
| GET /_emulator/status | `?email=&subscription_id=&channel=` | `{"status": {...} or null}` |
| GET /_emulator/wide-statuses | `?email=&channel=` | `{"wide_statuses": [...]}` |
| GET /_emulator/requests | | `{"requests": [...]}` |
| GET /_emulator/counters | | the counters dict |
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from local.hubspot_emulator.faults import Faults, profile
from local.hubspot_emulator.messages import Outcome, Request
from local.hubspot_emulator.portal import PortalControl
from local.hubspot_emulator.shapes import ApiError, error_body
from local.hubspot_emulator.validation import parse_json_body

PREFIX = "/_emulator/"
PORTAL_PARAMETER = (
    "portal"  # `?portal=ID`: the portal a control call acts on (docs/emulator.md, Several portals)
)
Handler = Callable[[PortalControl, dict[str, Any], dict[str, list[str]]], Any]


def handle(core: PortalControl, req: Request) -> Outcome:
    """Answer one control request."""
    correlation_id = str(uuid.uuid4())
    try:
        handler = _ROUTES.get((req.method, req.path))
        if handler is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No control route {req.method} {req.path[:200]}")
        if req.body_too_large:
            raise ApiError(
                413, "VALIDATION_ERROR", "Request body exceeds max_body_bytes", code="PAYLOAD_TOO_LARGE"
            )
        body = parse_json_body(req.body, req.content_type) if req.body and not req.body.isspace() else {}
        if not isinstance(body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "control bodies must be JSON objects")
        status, payload = 200, handler(core, body, parse_qs(req.query))
    except ApiError as err:
        status, payload = err.status, err.body(correlation_id)
    except (ValueError, TypeError, KeyError) as err:
        status, payload = 400, error_body("VALIDATION_ERROR", f"{type(err).__name__}: {err}", correlation_id)
    data = json.dumps(payload, separators=(",", ":")).encode()
    return Outcome(status, [("Content-Type", "application/json;charset=utf-8")], data)


def _reset(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    core.reset(keep_tokens=bool(body.get("keep_tokens", True)))
    return {"ok": True}


def _get_config(core: PortalControl, _b: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return core.config.to_dict()


def _set_config(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return core.configure(**body).to_dict()


def _get_faults(core: PortalControl, _b: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return {"faults": core.faults().to_dict(), "remaining_script": core.remaining_script()}


def _set_faults(core: PortalControl, body: dict[str, Any], q: dict[str, list[str]]) -> Any:
    if set(body) == {"profile"}:
        core.set_faults(profile(str(body["profile"])))
    else:
        core.set_faults(Faults.from_dict(body))
    return _get_faults(core, body, q)


def _add_token(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    kind = body.get("kind", "private")
    if kind not in ("private", "service-key"):
        raise ValueError(f"kind must be 'private' or 'service-key', got {kind!r:.40}")
    add = core.add_service_key if kind == "service-key" else core.add_private_app_token
    add(body["token"], body.get("scopes"), profile=body.get("profile"))
    return {"ok": True}


def _batch_scopes(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    granted = body["granted"]
    if not isinstance(granted, bool):
        raise ValueError("granted must be true or false")
    return {"changed": core.set_batch_scopes(body["token"], granted)}


def _revoke_token(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return {"revoked": core.revoke_token(body["token"])}


def _add_oauth_app(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    core.add_oauth_app(
        body["client_id"],
        body["client_secret"],
        body["refresh_token"],
        body.get("scopes"),
        float(body.get("access_token_ttl_s", 1800)),
    )
    return {"ok": True}


def _actor(core: PortalControl, body: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return core.actor(body)


def _state(core: PortalControl, _b: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return core.snapshot()


def _status(core: PortalControl, _b: dict[str, Any], q: dict[str, list[str]]) -> Any:
    channel = q.get("channel", ["EMAIL"])[0]
    return {"status": core.status(q["email"][0], int(q["subscription_id"][0]), channel)}


def _wide(core: PortalControl, _b: dict[str, Any], q: dict[str, list[str]]) -> Any:
    return {"wide_statuses": core.wide_statuses(q["email"][0], q.get("channel", ["EMAIL"])[0])}


def _requests(core: PortalControl, _b: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return {"requests": core.request_log()}


def _counters(core: PortalControl, _b: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return core.counters()


def _health(_core: PortalControl, _b: dict[str, Any], _q: dict[str, list[str]]) -> Any:
    return {"ok": True}


_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", PREFIX + "health"): _health,
    ("POST", PREFIX + "reset"): _reset,
    ("GET", PREFIX + "config"): _get_config,
    ("POST", PREFIX + "config"): _set_config,
    ("GET", PREFIX + "faults"): _get_faults,
    ("POST", PREFIX + "faults"): _set_faults,
    ("POST", PREFIX + "tokens"): _add_token,
    ("POST", PREFIX + "tokens/revoke"): _revoke_token,
    ("POST", PREFIX + "tokens/batch-scopes"): _batch_scopes,
    ("POST", PREFIX + "oauth-apps"): _add_oauth_app,
    ("POST", PREFIX + "actor"): _actor,
    ("GET", PREFIX + "state"): _state,
    ("GET", PREFIX + "status"): _status,
    ("GET", PREFIX + "wide-statuses"): _wide,
    ("GET", PREFIX + "requests"): _requests,
    ("GET", PREFIX + "counters"): _counters,
}
