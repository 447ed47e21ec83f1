"""The HubSpot credential, read from Secrets Manager: a private-app token or an OAuth refresh grant.

The secret holds ``{"accessToken": "pat-..."}``, the bare token string, or
``{"clientId", "clientSecret", "refreshToken"}``; OAuth access tokens are exchanged at
``/oauth/v1/token`` and cached until shortly before they expire. The token never appears in a log
line, an exception text or a repr.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

from status_writer.transport import answer_body

TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a URL path, not a password
EXPIRY_MARGIN_S = 60.0
MAX_STATUS = 64  # HubSpot names its OAuth errors in a word, e.g. BAD_REFRESH_TOKEN


class CredentialError(RuntimeError):
    """No usable credential; the text never contains secret material."""


class CallTime(Protocol):
    """The part of the invocation's Deadline a credential read needs."""

    def call_time_s(self) -> float: ...


Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class OAuthGrant:
    client_id: str
    client_secret: str
    refresh_token: str

    def __repr__(self) -> str:
        return f"OAuthGrant(client_id={self.client_id!r}, client_secret=***, refresh_token=***)"


SecretFetcher = Callable[[str, bool], Any]  # (secret id, force a fresh read) -> str | bytes | dict


def powertools_fetcher(boto_config: Config) -> SecretFetcher:
    """Powertools Parameters (cached in memory for POWERTOOLS_PARAMETERS_MAX_AGE seconds) over a Secrets
    Manager client with the function's timeouts. ``get_secret``'s default client waits up to 60 s per
    attempt, with retries, which a slow Secrets Manager could stretch past the invocation's timeout."""
    provider = SecretsProvider(boto_config=boto_config)

    def fetch(secret_id: str, force: bool) -> Any:
        return provider.get(secret_id, force_fetch=force)

    return fetch


def parse_secret(value: Any) -> str | OAuthGrant:
    """A private-app token or an OAuth grant, from whichever form the secret takes."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            if not text or any(ch.isspace() for ch in text):
                raise CredentialError("the HubSpot secret is empty or not a single token")
            return text
        try:
            value = json.loads(text)
        except ValueError:
            raise CredentialError("the HubSpot secret looks like JSON but does not parse") from None
    if not isinstance(value, dict):
        raise CredentialError("the HubSpot secret must be a token string or a JSON object")
    token = value.get("accessToken")
    if isinstance(token, str) and token.strip():
        return token.strip()
    fields = [value.get(name) for name in ("clientId", "clientSecret", "refreshToken")]
    if all(isinstance(field, str) and field for field in fields):
        return OAuthGrant(*(str(field) for field in fields))
    raise CredentialError("the HubSpot secret has neither accessToken nor clientId/clientSecret/refreshToken")


class Credentials:
    """Hands out the current access token; refreshes once when HubSpot says 401."""

    def __init__(
        self,
        secret_id: str,
        http: httpx.Client,
        fetch: SecretFetcher,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret_id = secret_id
        self._http = http
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._oauth: tuple[OAuthGrant, str, float] | None = None  # grant, access token, expires at
        self._force_next = False
        self._failed: tuple[CallTime, str] | None = None  # the invocation whose read failed, and why
        self._read: tuple[CallTime, str] | None = None  # the invocation that read the token, and the token

    def access_token(self, deadline: CallTime | None = None) -> str:
        """The current token. With ``deadline`` (the invocation's), the whole read (Secrets Manager, then
        the OAuth exchange) ends within the time a call may take, and a failure is remembered for the
        rest of that invocation: the other chunks fail at once instead of each waiting again."""
        limit_s = None if deadline is None else deadline.call_time_s()
        if not self._lock.acquire(timeout=-1 if limit_s is None else limit_s):
            raise CredentialError("timed out waiting for another thread's credential read")
        try:
            failed, read = self._failed, self._read
            if deadline is not None and failed is not None and failed[0] is deadline:
                raise CredentialError(f"{failed[1]} (earlier in this invocation)")
            if deadline is not None and read is not None and read[0] is deadline:
                return read[1]  # read once per invocation: a bounded read costs a thread
            try:
                token = self._token() if limit_s is None else _bounded(self._token, limit_s)
            except CredentialError as error:
                if deadline is not None:
                    self._failed = (deadline, str(error))
                raise
            if deadline is not None:
                self._read = (deadline, token)
            return token
        finally:
            self._lock.release()

    def _token(self) -> str:
        credential = self._read_secret()
        if isinstance(credential, str):
            return credential
        if self._oauth is not None:
            grant, token, expires_at = self._oauth
            if grant == credential and self._clock() < expires_at:
                return token
        token, lifetime_s = self._exchange(credential)
        margin = min(EXPIRY_MARGIN_S, lifetime_s / 10)
        self._oauth = (credential, token, self._clock() + lifetime_s - margin)
        return token

    def refresh(self, stale: str) -> None:
        """After a 401 with ``stale``: read the secret again (it may have been rotated) and drop the
        cached OAuth access token. A no-op if another thread already moved past ``stale``."""
        with self._lock:
            if self._oauth is not None and self._oauth[1] != stale:
                return
            self._oauth = None
            self._read = None
            self._force_next = True

    def _read_secret(self) -> str | OAuthGrant:
        force, self._force_next = self._force_next, False
        try:
            value = self._fetch(self._secret_id, force)
        except Exception as error:  # Powertools wraps every AWS failure; keep only its type
            raise CredentialError(f"could not read the HubSpot secret ({type(error).__name__})") from None
        return parse_secret(value)

    def _exchange(self, grant: OAuthGrant) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "client_id": grant.client_id,
            "client_secret": grant.client_secret,
            "refresh_token": grant.refresh_token,
        }
        try:
            response = self._http.post(
                TOKEN_PATH, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        except httpx.HTTPError as error:
            raise CredentialError(f"OAuth token exchange failed: {type(error).__name__}") from None
        # Read as HubSpot's answers are: a peer may echo the grant, and this text reaches the summary
        # line and dead letters.
        body = answer_body(response.content, grant.client_secret, grant.refresh_token)
        if response.status_code != 200 or not isinstance(body, dict):
            status = body.get("status") if isinstance(body, dict) else None
            named = status[:MAX_STATUS] if isinstance(status, str) else ""
            raise CredentialError(
                f"OAuth token exchange answered HTTP {response.status_code} {named}".strip()
            )
        # The v1 endpoint answers in snake_case; newer token APIs use camelCase. Accept both.
        token = body.get("access_token") or body.get("accessToken")
        lifetime = body.get("expires_in", body.get("expiresIn"))
        if not isinstance(token, str) or not token:
            raise CredentialError("OAuth token exchange returned no access token")
        try:
            lifetime_s = float(lifetime) if lifetime is not None else 1800.0
        except (TypeError, ValueError):
            lifetime_s = 1800.0
        return token, max(lifetime_s, 1.0)


def _bounded(read: Callable[[], Result], limit_s: float) -> Result:
    """``read()`` in a daemon thread, given up after ``limit_s``: a boto3 or httpx call cannot be
    interrupted, and their timeouts bound each attempt or read, not the whole read. An abandoned read
    ends on its own (its client's timeouts) and its result is dropped."""
    outcome: list[Result] = []
    problem: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(read())
        except BaseException as error:  # handed to the caller below
            problem.append(error)

    worker = threading.Thread(target=run, name="credential-read", daemon=True)
    worker.start()
    worker.join(max(limit_s, 0.0))
    if worker.is_alive():
        raise CredentialError(f"reading the HubSpot credential took longer than the {limit_s:.1f} s left")
    if problem:
        raise problem[0]
    return outcome[0]
