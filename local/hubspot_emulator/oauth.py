"""`POST /oauth/v1/token` (form-encoded `grant_type=refresh_token`): issues short-lived access tokens.

The answer is spelled the v1 way (`access_token`, `expires_in`, snake_case) or the newer camelCase way
(`accessToken`, `expiresIn`, ...) depending on `EmulatorConfig.oauth_response_style`. Errors are 400s
whose `status` names the problem, e.g. `BAD_REFRESH_TOKEN`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from local.hubspot_emulator.auth import OAuthError, TokenRegistry, fingerprint
from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.shapes import ApiError

_FORM_MEDIA = re.compile(r"\s*application/x-www-form-urlencoded\s*(;.*)?$", re.IGNORECASE)
_SECRET_FIELDS = ("client_secret", "refresh_token", "code")


def parse_form(raw: bytes, content_type: str | None) -> dict[str, str]:
    """The form fields (last value wins), or a 415 for a non-form content type."""
    if content_type and not _FORM_MEDIA.match(content_type):
        raise ApiError(
            415,
            "VALIDATION_ERROR",
            f"Unsupported Media Type: {content_type!s:.100} (expected application/x-www-form-urlencoded)",
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


def redacted(form: dict[str, str]) -> dict[str, str]:
    """The form as the request log may keep it: secrets replaced by fingerprints."""
    return {k: (f"sha256:{fingerprint(v)}" if k in _SECRET_FIELDS else v) for k, v in form.items()}


def token_reply(
    registry: TokenRegistry, form: dict[str, str], config: EmulatorConfig, now: float, correlation_id: str
) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for one token request. The caller holds the emulator lock."""
    try:
        issued = registry.refresh(form, now)
    except OAuthError as err:
        return 400, {"status": err.status, "message": err.message, "correlationId": correlation_id}
    if config.oauth_response_style == "camel":
        return 200, {
            "tokenType": "bearer",
            "accessToken": issued.access_token,
            "refreshToken": issued.refresh_token,
            "expiresIn": issued.expires_in,
            "hubId": config.portal_id,
            "scopes": sorted(issued.scopes),
        }
    return 200, {
        "token_type": "bearer",
        "refresh_token": issued.refresh_token,
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
    }
