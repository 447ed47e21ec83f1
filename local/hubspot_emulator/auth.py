"""Credentials: private-app tokens, OAuth apps with refresh tokens, and the short-lived access tokens the
token endpoint issues. Not thread-safe: the emulator calls it while holding its lock."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from local.hubspot_emulator.shapes import ApiError

SCOPE_READ = "communication_preferences.read"
SCOPE_WRITE = "communication_preferences.write"
SCOPE_READ_WRITE = "communication_preferences.read_write"
SCOPE_BATCH_READ = "communication_preferences.statuses.batch.read"
SCOPE_BATCH_WRITE = "communication_preferences.statuses.batch.write"
ALL_SCOPES = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_READ_WRITE, SCOPE_BATCH_READ, SCOPE_BATCH_WRITE})
BATCH_SCOPES = frozenset({SCOPE_BATCH_READ, SCOPE_BATCH_WRITE})
# Named scope sets for tokens: `no-batch` is a portal whose tier does not grant the batch scopes (every
# batch call is a 403 MISSING_SCOPES, the per-contact routes work); `read-only` can only read.
SCOPE_PROFILES: dict[str, frozenset[str]] = {
    "all": ALL_SCOPES,
    "no-batch": ALL_SCOPES - BATCH_SCOPES,
    "read-only": frozenset({SCOPE_READ, SCOPE_BATCH_READ}),
}

# Service Keys replace private-app tokens for new accounts: bearer tokens with the same limits (a burst
# window per key, the portal's daily limit).
TokenKind = Literal["private", "oauth", "service-key"]
_AUTH_DOCS = "https://developers.hubspot.com/docs/methods/auth/oauth-overview"


def fingerprint(secret: str) -> str:
    """A short sha256 fingerprint: enough to tell tokens apart in logs without revealing them."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `rate_key` names its rate-limit window (the private app, or the OAuth app)."""

    kind: TokenKind
    scopes: frozenset[str]
    rate_key: str
    fingerprint: str
    expires_at: float | None = None


@dataclass(slots=True)
class OAuthApp:
    """An OAuth app: its secret, its live refresh tokens, what it may do, and how long access tokens live."""

    client_id: str
    client_secret: str
    scopes: frozenset[str]
    access_token_ttl_s: float
    refresh_tokens: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What the token endpoint hands out."""

    access_token: str
    refresh_token: str
    expires_in: int
    scopes: frozenset[str]


class OAuthError(Exception):
    """A 400 from the token endpoint; `status` is HubSpot's error code, e.g. `BAD_REFRESH_TOKEN`."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TokenRegistry:
    """Which bearer tokens are valid, for whom, with which scopes, and until when."""

    def __init__(self) -> None:
        self._tokens: dict[str, Principal] = {}
        self._revoked: set[str] = set()
        self._apps: dict[str, OAuthApp] = {}

    def add_private_app_token(
        self, token: str, scopes: Iterable[str] | None = None, kind: TokenKind = "private"
    ) -> None:
        """Register a private-app token or a Service Key (`None` scopes = every scope); re-adding
        replaces its scopes."""
        _check_secret(token, "token")
        if kind == "oauth":
            raise ValueError("OAuth access tokens come from the token endpoint, not from registration")
        self._revoked.discard(token)
        self._tokens[token] = Principal(
            kind, _scopes(scopes), f"{kind}:{fingerprint(token)}", fingerprint(token)
        )

    def set_batch_scopes(self, token: str, granted: bool) -> bool:
        """Grant or take away the batch scopes of a live token (a portal changing tier). False if unknown."""
        principal = self._tokens.get(token)
        if principal is None:
            return False
        scopes = principal.scopes | BATCH_SCOPES if granted else principal.scopes - BATCH_SCOPES
        self._tokens[token] = dataclasses.replace(principal, scopes=frozenset(scopes))
        return True

    def add_oauth_app(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scopes: Iterable[str] | None = None,
        access_token_ttl_s: float = 1800,
    ) -> None:
        """Register an OAuth app and one refresh token for it (call again to add more refresh tokens)."""
        for value, name in (
            (client_id, "client_id"),
            (client_secret, "client_secret"),
            (refresh_token, "refresh_token"),
        ):
            _check_secret(value, name)
        if access_token_ttl_s <= 0:
            raise ValueError("access_token_ttl_s must be > 0")
        app = self._apps.get(client_id)
        if app is None or app.client_secret != client_secret:
            app = OAuthApp(client_id, client_secret, _scopes(scopes), float(access_token_ttl_s))
            self._apps[client_id] = app
        else:
            app.scopes = _scopes(scopes)
            app.access_token_ttl_s = float(access_token_ttl_s)
        app.refresh_tokens.add(refresh_token)
        self._revoked.discard(refresh_token)

    def revoke_token(self, token: str) -> bool:
        """Revoke a private-app token, an access token or a refresh token. True if it was live."""
        found = self._tokens.pop(token, None) is not None
        for app in self._apps.values():
            if token in app.refresh_tokens:
                app.refresh_tokens.discard(token)
                found = True
        if found:
            self._revoked.add(token)
        return found

    def knows_token(self, token: str) -> bool:
        """True when `token` is (or was) one of these credentials: live, expired or revoked."""
        return (
            token in self._tokens
            or token in self._revoked
            or any(token in app.refresh_tokens for app in self._apps.values())
        )

    def knows_client(self, client_id: str) -> bool:
        """True when an OAuth app of `client_id` is registered here."""
        return client_id in self._apps

    def authenticate(self, authorization: str | None, now: float) -> Principal:
        """The caller behind an `Authorization` header, or a 401 `INVALID_AUTHENTICATION`."""
        if not authorization:
            raise _unauthenticated(
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                f"can find more details at {_AUTH_DOCS}",
                "MISSING_CREDENTIALS",
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated(
                "Authentication credentials not found. Send 'Authorization: Bearer <token>'.",
                "MISSING_CREDENTIALS",
            )
        principal = self._tokens.get(token)
        if principal is None:
            if token in self._revoked:
                raise _unauthenticated("The access token provided has been revoked.", "REVOKED_TOKEN")
            raise _unauthenticated(
                "The OAuth token used to make this call is invalid or unknown.", "INVALID_OAUTH_TOKEN"
            )
        if principal.expires_at is not None and now >= principal.expires_at:
            ago = max(1, int(now - principal.expires_at))
            raise _unauthenticated(
                f"The OAuth token used to make this call expired {ago} second(s) ago.", "EXPIRED_TOKEN"
            )
        return principal

    def refresh(self, form: dict[str, str], now: float) -> IssuedToken:
        """`grant_type=refresh_token`: a new access token, or an `OAuthError`."""
        grant = form.get("grant_type", "")
        if grant != "refresh_token":
            raise OAuthError("UNSUPPORTED_GRANT_TYPE", f"grant_type {grant!r:.40} is not supported")
        app = self._apps.get(form.get("client_id", ""))
        if app is None:
            raise OAuthError("BAD_CLIENT_ID", "missing or unknown client id")
        if not secrets.compare_digest(form.get("client_secret", ""), app.client_secret):
            raise OAuthError("BAD_CLIENT_SECRET", "missing or invalid client secret")
        refresh_token = form.get("refresh_token", "")
        if refresh_token not in app.refresh_tokens:
            raise OAuthError("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        self._drop_expired(now)
        access = "emu-at-" + secrets.token_urlsafe(36)
        self._tokens[access] = Principal(
            "oauth", app.scopes, f"oauth:{app.client_id}", fingerprint(access), now + app.access_token_ttl_s
        )
        return IssuedToken(access, refresh_token, math.ceil(app.access_token_ttl_s), app.scopes)

    def clone(self) -> TokenRegistry:
        """An independent copy (used to restore credentials on reset)."""
        other = TokenRegistry()
        other._tokens = dict(self._tokens)
        other._revoked = set(self._revoked)
        other._apps = {
            k: OAuthApp(a.client_id, a.client_secret, a.scopes, a.access_token_ttl_s, set(a.refresh_tokens))
            for k, a in self._apps.items()
        }
        return other

    def _drop_expired(self, now: float) -> None:
        """Forget access tokens expired for over an hour, so a long run does not grow without bound."""
        stale = [t for t, p in self._tokens.items() if p.expires_at is not None and now - p.expires_at > 3600]
        for token in stale:
            del self._tokens[token]


def missing_scopes(required: tuple[frozenset[str], ...], granted: frozenset[str]) -> list[str] | None:
    """None when any alternative in `required` is fully granted, else the scopes to name in the 403."""
    if not required or any(alt <= granted for alt in required):
        return None
    return sorted(set().union(*required))


def missing_scopes_error(scopes: list[str]) -> ApiError:
    """403 `MISSING_SCOPES` with `errors[0].context.requiredGranularScopes` (docs/emulator.md: Routes)."""
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required "
        "scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": scopes},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


def _unauthenticated(message: str, sub_category: str) -> ApiError:
    return ApiError(401, "INVALID_AUTHENTICATION", message, sub_category=sub_category)


def scopes_for(profile: str) -> frozenset[str]:
    """The scopes of a named profile (`SCOPE_PROFILES`)."""
    if profile not in SCOPE_PROFILES:
        raise ValueError(f"unknown scope profile {profile!r}; known: {sorted(SCOPE_PROFILES)}")
    return SCOPE_PROFILES[profile]


def _scopes(scopes: Iterable[str] | None) -> frozenset[str]:
    if scopes is None:
        return ALL_SCOPES
    if isinstance(scopes, str):
        raise TypeError("scopes must be an iterable of scope names, not one string")
    return frozenset(scopes)


def _check_secret(value: str, name: str) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"{name} must be a non-empty string without whitespace")
