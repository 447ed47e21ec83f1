"""Settings read from the environment once, at start-up, with a clear error for anything wrong."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from status_writer.freshness import FRESHNESS_MODES
from status_writer.routes import API_VERSIONS, BATCH_MODES, DEFAULT_API_VERSION

# Every variable this code reads. The template sets each of them (a test checks both directions).
ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "HUBSPOT_SECRET_ID",
    "HUBSPOT_API_BASE_URL",
    "HUBSPOT_BATCH_LIMIT",
    "HUBSPOT_MAX_IN_FLIGHT",
    "HUBSPOT_CONNECT_TIMEOUT_SECONDS",
    "HUBSPOT_READ_TIMEOUT_SECONDS",
    "DEAD_LETTER_QUEUE_URL",
    "RETRY_BACKOFF_BASE_SECONDS",
    "RETRY_BACKOFF_MAX_SECONDS",
    "VERSION_TABLE_NAME",
    "DAILY_LIMIT_RETRY_SECONDS",
    "HUBSPOT_API_VERSION",
    "HUBSPOT_BATCH_MODE",
    "HUBSPOT_FRESHNESS_CHECK",
    "HUBSPOT_DEFAULT_PORTAL_ID",
    "MAX_RECEIVE_COUNT",
)

DEFAULT_API_BASE_URL = "https://api.hubapi.com"
PORTAL_PLACEHOLDER = "{portalId}"  # in HUBSPOT_SECRET_ID: one secret per portal (README: Many portals)
PORTALS_IN_FLIGHT = 8  # portals delivered side by side in one invocation, each with its own call slots
# A portal of several waits for its rate limit at most this long in all in one invocation, not counting
# its waits while another portal of its batch still delivers (those hold nobody back); longer, its
# records come back with the wait as their backoff (waits.py).
PORTAL_MAX_WAIT_S = 1.0
# While another portal still delivers, a portal's wait is re-judged this often: its last free step
# outlasts the others' delivery by up to one step (at 0.25 s, figure 8's one-throttled case was at 84%
# of its bound in one run; at 50 ms, 89%).
FREE_WAIT_STEP_S = 0.05
# Once a read of a portal is answered, its calls may wait up to HubSpot's rate-limit interval more: every
# slot of the window frees by then, and coming back would waste the reads' slots and spend them again.
AFTER_READS_WAIT_S = 10.0
_TABLE_NAME = re.compile(
    r"[A-Za-z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}"
)
MAX_BATCH_LIMIT = 100  # HubSpot's batch endpoints take at most 100 inputs (README: Configuration)


class ConfigurationError(ValueError):
    """A setting is missing or invalid; raised at start-up so the function never half-works."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated configuration of one execution environment."""

    secret_id: str
    api_base_url: str = DEFAULT_API_BASE_URL
    batch_limit: int = MAX_BATCH_LIMIT
    max_in_flight: int = 4
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    dead_letter_queue_url: str | None = None
    backoff_base_s: int = 30
    backoff_max_s: int = 900
    version_table: str | None = None  # the ordering ledger; None keeps ordering within an invocation only
    daily_retry_s: int | None = None  # park after a DAILY 429; None (0): until just after midnight UTC
    api_version: str = DEFAULT_API_VERSION  # the path segment of every HubSpot call
    batch_mode: str = "auto"  # auto | batch | per-contact (README: Outcomes, per-contact mode)
    freshness_check: str = "all"  # all | subscribed | off (README: Outcomes, HubSpot-side changes)
    default_portal_id: str | None = None  # the portal of a message without portalId (README: Many portals)
    max_receive_count: int | None = None  # the queue's maxReceiveCount; None: unknown (README: Outcomes)

    @property
    def multi_portal(self) -> bool:
        """One deployment for several portals: the secret's name has a ``{portalId}`` placeholder."""
        return PORTAL_PLACEHOLDER in self.secret_id

    @property
    def call_budget_ms(self) -> int:
        """The longest one HubSpot call can take: no call starts with less time than this left."""
        return int((self.connect_timeout_s + self.read_timeout_s) * 1000)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; report all problems at once."""
        reader = _Reader(os.environ if environ is None else environ)
        settings = cls(
            secret_id=_secret_id(reader),
            api_base_url=_base_url(reader),
            batch_limit=reader.integer("HUBSPOT_BATCH_LIMIT", MAX_BATCH_LIMIT, 1, MAX_BATCH_LIMIT),
            max_in_flight=reader.integer("HUBSPOT_MAX_IN_FLIGHT", 4, 1, 64),
            connect_timeout_s=reader.number("HUBSPOT_CONNECT_TIMEOUT_SECONDS", 3.0, 0.1, 30),
            read_timeout_s=reader.number("HUBSPOT_READ_TIMEOUT_SECONDS", 10.0, 0.1, 120),
            dead_letter_queue_url=_dead_letter_queue_url(reader),
            backoff_base_s=reader.integer("RETRY_BACKOFF_BASE_SECONDS", 30, 0, 43_200),
            backoff_max_s=reader.integer("RETRY_BACKOFF_MAX_SECONDS", 900, 0, 43_200),
            version_table=_version_table(reader),
            daily_retry_s=reader.integer("DAILY_LIMIT_RETRY_SECONDS", 0, 0, 43_200) or None,
            api_version=reader.choice("HUBSPOT_API_VERSION", API_VERSIONS, DEFAULT_API_VERSION),
            batch_mode=reader.choice("HUBSPOT_BATCH_MODE", BATCH_MODES, "auto"),
            freshness_check=reader.choice("HUBSPOT_FRESHNESS_CHECK", FRESHNESS_MODES, "all"),
            default_portal_id=_portal(reader),
            max_receive_count=reader.integer("MAX_RECEIVE_COUNT", 0, 0, 1000) or None,
        )
        if settings.backoff_base_s > settings.backoff_max_s:
            reader.problems.append("RETRY_BACKOFF_BASE_SECONDS must not exceed RETRY_BACKOFF_MAX_SECONDS")
        if reader.problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(reader.problems))
        return settings


class _Reader:
    """Reads variables from one environment and collects every problem, so all are reported at once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str:
        return str(self.env.get(name, "")).strip()

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        """One of ``allowed`` (``default`` when unset); anything else is a problem naming the allowed values."""
        raw = self.text(name)
        if raw and raw not in allowed:
            self.problems.append(f"{name}={raw[:40]!r} is not one of: {', '.join(allowed)}")
        return raw if raw in allowed else default

    def number(self, name: str, default: float, low: float, high: float) -> float:
        return self._parsed(name, default, low, high, integer=False)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return int(self._parsed(name, default, low, high, integer=True))

    def _parsed(self, name: str, default: float, low: float, high: float, *, integer: bool) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not {'an integer' if integer else 'a number'}")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name}={raw} must be between {low:g} and {high:g}")
            return default
        return value


def _secret_id(reader: _Reader) -> str:
    secret_id = reader.text("HUBSPOT_SECRET_ID")
    if not secret_id:
        reader.problems.append("HUBSPOT_SECRET_ID is required (the Secrets Manager secret holding the token)")
    return secret_id


def _portal(reader: _Reader) -> str | None:
    raw = reader.text("HUBSPOT_DEFAULT_PORTAL_ID")
    if not raw or raw == "0":  # 0 (the template's "none"): no portal has that id
        return None
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 19 and int(raw) > 0):
        reader.problems.append(f"HUBSPOT_DEFAULT_PORTAL_ID={raw[:40]!r} is not a HubSpot account id (digits)")
        return None
    return str(int(raw))


def _base_url(reader: _Reader) -> str:
    base_url = reader.text("HUBSPOT_API_BASE_URL").rstrip("/") or DEFAULT_API_BASE_URL
    url_problem = _check_base_url(base_url)
    if url_problem:
        reader.problems.append(url_problem)
    return base_url


def _dead_letter_queue_url(reader: _Reader) -> str | None:
    dlq = reader.text("DEAD_LETTER_QUEUE_URL") or None
    if dlq is not None and not dlq.startswith(("https://", "http://")):
        reader.problems.append(f"DEAD_LETTER_QUEUE_URL={dlq!r} is not a queue URL")
    return dlq


def _version_table(reader: _Reader) -> str | None:
    table = reader.text("VERSION_TABLE_NAME") or None
    if table is not None and not _TABLE_NAME.fullmatch(table):
        reader.problems.append(f"VERSION_TABLE_NAME={table!r} is not a DynamoDB table name")
    return table


def _check_base_url(url: str) -> str | None:
    """Scheme, host, optional port and path prefix; nothing else. HTTPS only, except plain HTTP to a
    loopback host, so the token can never travel in clear."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)
    except ValueError:  # e.g. "http://[::1" or "https://[not-an-ip]"
        return f"HUBSPOT_API_BASE_URL={url!r} is not an http(s) URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"HUBSPOT_API_BASE_URL={url!r} is not an http(s) URL"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"HUBSPOT_API_BASE_URL={url!r} must use https (plain http is allowed only for loopback hosts)"
    if "@" in parts.netloc:  # httpx would send it as Basic auth instead of the Bearer token
        return "HUBSPOT_API_BASE_URL must not hold a user name or password (scheme, host, port and path only)"
    if "?" in url or "#" in url:  # a query makes httpx replace every call's path with the base's
        return f"HUBSPOT_API_BASE_URL={url!r} must not have a query or fragment (scheme, host, port and path only)"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
