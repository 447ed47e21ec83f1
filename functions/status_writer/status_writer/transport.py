"""HubSpot's transport: the one long-lived httpx client and the bounded exchange over it.

One exchange encodes nothing and judges nothing: it sends an already-encoded body and reads the whole
answer within one time bound and one size cap, so a hostile or broken peer can neither hold a call past
its budget nor fill the function's memory (README: Reliability).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import http.cookiejar
import itertools
import json
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from status_writer.config import PORTALS_IN_FLIGHT, Settings

# The largest answer read: a full batch/write answer is ~60 KiB; past this it is not HubSpot's (and a
# 60 MB body would take a 256 MB function down). What was sent is then unknown, so it is retried.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class ResponseTooLarge(Exception):
    """HubSpot's answer passed MAX_RESPONSE_BYTES; reading stopped there."""


@dataclass(frozen=True, slots=True)
class Request:
    """One call: path, query parameters and the JSON body, encoded once before the first attempt
    (a GET, the freshness check's per-contact read, has none)."""

    path: str
    params: Mapping[str, str] | None
    content: bytes
    method: str = "POST"


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that keeps nothing: a call carries its token and body, never a cookie a peer set, and
    the function spends no CPU on cookie bookkeeping per answer."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


def make_http_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One keep-alive client per execution environment, with explicit timeouts, a pool sized to the
    calls that may be in flight at once (each portal's, side by side, in a multi-portal deployment)
    and no cookie jar."""
    pool = settings.max_in_flight * (PORTALS_IN_FLIGHT if settings.multi_portal else 1)
    return httpx.Client(
        base_url=settings.api_base_url,
        timeout=httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.read_timeout_s,
            write=settings.read_timeout_s,
            pool=settings.connect_timeout_s,
        ),
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        headers={"Accept": "application/json"},
        transport=transport,
        follow_redirects=False,  # a redirect must never carry the token somewhere else
        cookies=_NoCookies(),
    )


def encode(payload: Mapping[str, Any]) -> bytes | None:
    """The request body as httpx would encode it; None for what cannot be (e.g. a lone surrogate)."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None


def json_or_none(content: bytes) -> Any:
    """The answer's JSON value; None for an empty or unparseable body (judged by its shape later)."""
    try:
        return json.loads(content) if content else None
    except (ValueError, RecursionError):
        return None


TOKEN_MARK = "[token]"  # noqa: S105 - what replaces a quoted token, not a password


def answer_body(content: bytes, *secrets: str) -> Any:
    """The answer's JSON value with each secret the call carried (the token; for the OAuth exchange,
    the refresh token and client secret) replaced in every string, keys too.

    A peer that quotes the request back (a hostile proxy, a debugging gateway) would otherwise carry
    a secret into a dead letter's reason or a log line; every answer of HubSpot's and of its token
    endpoint is read here (README: Hostile world). A body with neither a secret nor a JSON escape in
    its bytes cannot hold one, so the common answer is not walked.
    """
    body = json_or_none(content)
    present = [secret for secret in secrets if secret]
    if not present or (b"\\" not in content and not any(s.encode() in content for s in present)):
        return body
    try:
        return _without(body, present)
    except RecursionError:  # as deep as the parser allows: not HubSpot's answer, judged as unknown
        return None


def _without(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, TOKEN_MARK)
        return value
    if isinstance(value, list):
        return [_without(item, secrets) for item in value]
    if isinstance(value, dict):
        return {_without(key, secrets): _without(item, secrets) for key, item in value.items()}
    return value


def exchange(
    client: httpx.Client, request: Request, token: str, limit_s: float
) -> tuple[httpx.Response, bytes]:
    """One HubSpot call, sent and read within ``limit_s`` as one bound (``bounded_post``)."""
    headers = {"Authorization": f"Bearer {token}"}
    if request.method == "POST":
        headers["Content-Type"] = "application/json"
    return bounded_post(
        client, request.path, request.content, headers, limit_s, params=request.params, method=request.method
    )


def bounded_post(
    client: httpx.Client,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    limit_s: float,
    *,
    params: Mapping[str, str] | None = None,
    method: str = "POST",
) -> tuple[httpx.Response, bytes]:
    """Send and read the whole answer within ``limit_s`` as ONE bound: httpx's timeouts bound each
    read, so a body trickling a byte at a time would otherwise hold the call far past it. Raises
    ``httpx.TimeoutException`` when the time is over, ``ResponseTooLarge`` past the size cap."""
    configured = client.timeout
    timeout = httpx.Timeout(
        connect=_at_most(configured.connect, limit_s),
        read=_at_most(configured.read, limit_s),
        write=_at_most(configured.write, limit_s),
        pool=_at_most(configured.pool, limit_s),
    )
    with _Watchdog(limit_s) as watchdog:
        # Built as ``client.build_request`` would, from a URL parsed once: httpx parses and
        # percent-checks the URL on every build, ~0.15 ms of CPU a call (README "Performance").
        built = httpx.Request(
            method,
            _url(client.base_url, url, tuple(sorted(params.items())) if params else ()),
            content=content or None,
            headers={**client.headers, **headers},
            extensions={"timeout": timeout.as_dict(), "trace": watchdog.trace},
        )
        try:
            response = client.send(built, stream=True)
        except httpx.HTTPError:
            watchdog.raise_if_expired()
            raise
        try:
            watchdog.watch(response.extensions.get("network_stream"))
            content = _read_capped(response, watchdog)
            watchdog.finish()  # before close() hands the connection back to the pool
            return response, content
        except httpx.HTTPError:
            watchdog.raise_if_expired()
            raise
        finally:
            response.close()


@functools.lru_cache(maxsize=256)  # the batch routes' few URLs; per-contact mode's vary by contact
def _url(base: httpx.URL, path: str, params: tuple[tuple[str, str], ...]) -> httpx.URL:
    """``path`` under the client's base URL with ``params`` as its query, as httpx merges them."""
    merged = httpx.URL(path)
    if merged.is_relative_url:
        merged = base.copy_with(raw_path=base.raw_path + merged.raw_path.lstrip(b"/"))
    return merged.copy_merge_params(dict(params)) if params else merged


class _Alarms:
    """One daemon thread wakes every call whose time is over. A ``threading.Timer`` per call cost a
    thread start and exit each (~130 us of CPU, a fifth of a 100-input call's own work; make bench:
    cpu); here a call only pushes its end onto a heap. Ended calls stay queued until their time and
    are skipped then."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, ends_at: float, watchdog: _Watchdog) -> None:
        with self._wake:
            heapq.heappush(self._due, (ends_at, next(self._order), watchdog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="call-watchdog", daemon=True)
                self._thread.start()
            elif self._due[0][2] is watchdog:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due:
                    self._wake.wait()
                ends_at, _, watchdog = self._due[0]
                delay = ends_at - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._due)
            watchdog.expire()


_ALARMS = _Alarms()


def call_bound(limit_s: float) -> _Watchdog:
    """The bound of one call made on a socket of its own (the ordering ledger's DynamoDB client): used
    as a context manager, it is handed the call's socket (``watch_socket``), checked between reads of
    the answer (``check``) and finished once the answer is read (``finish``)."""
    return _Watchdog(limit_s)


class _Watchdog:
    """Ends one call when its time is over: it shuts the call's socket down (which wakes a read blocked
    on it) and remembers that it did, so the error reads as a timeout. It learns the socket of a new
    connection when it opens, that of a reused keep-alive one when the headers arrive; until then each
    read of a reused connection is bounded by the call's time through the per-call timeouts."""

    def __init__(self, limit_s: float) -> None:
        self._ends_at = time.monotonic() + limit_s
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.expired = False
        self._finished = False

    def __enter__(self) -> _Watchdog:
        _ALARMS.add(self._ends_at, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()

    def finish(self) -> None:
        """The answer is read: from now on the connection is the pool's, never to be shut down here."""
        with self._lock:
            self._socket = None
            self._finished = True

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: learn a new connection's socket as soon as it is open."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        """Take the socket of ``stream`` (an httpcore network stream) to shut it down on expiry."""
        get_extra_info = getattr(stream, "get_extra_info", None)
        found = get_extra_info("socket") if callable(get_extra_info) else None
        if isinstance(found, socket.socket):
            self.watch_socket(found)

    def watch_socket(self, found: socket.socket) -> None:
        """Shut ``found`` down on expiry (at once if the time is over already)."""
        with self._lock:
            self._socket = found
            expired = self.expired
        if expired:
            self._shutdown(found)

    def check(self) -> None:
        """Raise once the call's time is over (between reads of a body that keeps trickling)."""
        if self.expired or time.monotonic() >= self._ends_at:
            self.expired = True
            raise httpx.ReadTimeout("the call's time budget is used up")

    def raise_if_expired(self) -> None:
        if self.expired:
            raise httpx.ReadTimeout("the call's time budget is used up")

    def expire(self) -> None:
        """The call's time is over: shut its socket down, unless its answer was read already."""
        with self._lock:
            if self._finished:
                return
            self.expired = True
            found = self._socket
        if found is not None:
            self._shutdown(found)

    @staticmethod
    def _shutdown(found: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already closed
            found.shutdown(socket.SHUT_RDWR)


def _read_capped(response: httpx.Response, watchdog: _Watchdog) -> bytes:
    """The decoded body, read in pieces; stops past MAX_RESPONSE_BYTES or when the time is over."""
    content = bytearray()
    for piece in response.iter_bytes():
        content += piece
        if len(content) > MAX_RESPONSE_BYTES:
            raise ResponseTooLarge
        watchdog.check()
    return bytes(content)


def _at_most(configured: float | None, limit_s: float) -> float:
    return limit_s if configured is None else min(configured, limit_s)
