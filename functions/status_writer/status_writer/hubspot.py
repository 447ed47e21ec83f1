"""The HubSpot edge: one long-lived httpx client, auth, pacing and the retries that belong in-call.

It turns every way a call can end into a ``CallResult``: a parsed batch body, a whole-batch rejection
(to bisect), or a ``Failure`` that says whether trying again later can help. It never raises for an
expected failure.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from status_writer.backoff import seconds_until_daily_reset
from status_writer.config import Settings
from status_writer.credentials import CredentialError, Credentials
from status_writer.deadline import Deadline
from status_writer.model import Failure, FailureCategory
from status_writer.per_contact import (
    RouteModes,
    email_names,
    email_result,
    fan_out,
    partial_request,
    write_names,
    write_result,
)
from status_writer.rate_limit import RateLimitPacer, RateLimitReport
from status_writer.routes import ApiPaths, Route

MAX_TEN_SECONDLY_RETRIES = 3
MAX_RETRY_AFTER_S = 60.0
MAX_DETAIL = 300
# The largest answer read: a full batch/write answer is ~60 KiB; past this it is not HubSpot's (and a
# 60 MB body would take a 256 MB function down). What was sent is then unknown, so it is retried.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class CallStats:
    """What one invocation's calls cost; shared by the worker threads, so updates take a lock."""

    calls: int = 0
    throttled: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, latency_ms: float, throttled: bool) -> None:
        with self._lock:
            self.calls += 1
            self.throttled += int(throttled)
            self.latencies_ms.append(latency_ms)


@dataclass(frozen=True, slots=True)
class _Request:
    path: str
    params: Mapping[str, str] | None
    content: bytes  # the JSON body, encoded once before the first attempt


@dataclass(slots=True)
class _Attempts:
    """The in-call retries already spent on one batch."""

    refreshed: bool = False
    throttled: int = 0
    transient: bool = False


# How a final HTTP status is reported; anything unlisted (404 wrong base URL, 409, 422, 5xx…) is a
# configuration or server fault, never the message's, so it is retried.
_STATUS_CATEGORIES = {
    401: FailureCategory.AUTHENTICATION,
    403: FailureCategory.MISSING_SCOPES,
}


@dataclass(frozen=True, slots=True)
class CallResult:
    """Exactly one of: ``body`` (a 200/207 answer), ``rejected`` (whole-batch 400/413), ``failure``."""

    body: Any = None
    rejected: str | None = None
    failure: Failure | None = None


class HubSpotClient:
    """Writes batches to HubSpot; one instance per execution environment, reused while warm."""

    def __init__(
        self,
        http: httpx.Client,
        credentials: Credentials,
        pacer: RateLimitPacer,
        sleep: Callable[[float], None] = time.sleep,
        *,
        paths: ApiPaths | None = None,
        modes: RouteModes | None = None,
    ) -> None:
        self._client = http
        self._credentials = credentials
        self._pacer = pacer
        self._sleep = sleep
        self.paths = paths or ApiPaths()
        self.modes = modes or RouteModes()

    def close(self) -> None:
        self.modes.close()
        self._client.close()

    def inputs_per_call(self, route: Route, batch_limit: int) -> int:
        """Inputs one call of ``route`` carries now: ``batch_limit``, or 1 in per-contact mode."""
        return self.modes.inputs_per_call(route, batch_limit)

    def write_statuses(
        self, inputs: Sequence[Mapping[str, Any]], deadline: Deadline, stats: CallStats
    ) -> CallResult:
        """One batch/write call (``PublicStatusRequest`` inputs); in per-contact mode (or right after
        the batch route answered 403 MISSING_SCOPES) one ``POST statuses/{email}`` per input."""
        items = list(inputs)
        if self.modes.take_batch(Route.WRITE):
            answer = self._post(self.paths.batch_write, None, {"inputs": items}, deadline, stats)
            if not self.modes.after_batch(Route.WRITE, answer):
                return answer
        shaped = fan_out(
            items,
            lambda item: self._post(
                self.paths.contact_status(str(item["subscriberIdString"])),
                None,
                partial_request(item),
                deadline,
                stats,
            ),
            write_names,
            write_result,
            self.modes.executor(),
        )
        return CallResult(failure=shaped) if isinstance(shaped, Failure) else CallResult(body=shaped)

    def unsubscribe_all(
        self,
        emails: Sequence[str],
        channel: str,
        business_unit_id: int | None,
        deadline: Deadline,
        stats: CallStats,
    ) -> CallResult:
        """One batch/unsubscribe-all call; ``verbose`` so the answer names each contact it applied to.
        In per-contact mode one ``POST statuses/{email}/unsubscribe-all`` per contact."""
        params: dict[str, str] = {"channel": channel, "verbose": "true"}
        if business_unit_id is not None:
            params["businessUnitId"] = str(business_unit_id)
        addresses = list(emails)
        if self.modes.take_batch(Route.UNSUBSCRIBE_ALL):
            answer = self._post(
                self.paths.batch_unsubscribe_all, params, {"inputs": addresses}, deadline, stats
            )
            if not self.modes.after_batch(Route.UNSUBSCRIBE_ALL, answer):
                return answer
        shaped = fan_out(
            addresses,
            lambda email: self._post(self.paths.contact_unsubscribe_all(email), params, {}, deadline, stats),
            email_names,
            email_result,
            self.modes.executor(),
        )
        return CallResult(failure=shaped) if isinstance(shaped, Failure) else CallResult(body=shaped)

    def _post(
        self,
        path: str,
        params: Mapping[str, str] | None,
        payload: Mapping[str, Any],
        deadline: Deadline,
        stats: CallStats,
    ) -> CallResult:
        """POST with the in-call retries: a credential refresh after a 401, waits after ten-secondly
        429s and one quick retry after a 5xx or connection failure, each only while the time budget
        allows."""
        content = _encode(payload)
        if content is None:  # costs only the inputs that caused it: the caller bisects a rejection
            return CallResult(rejected="the request could not be encoded as UTF-8 JSON")
        request = _Request(path, params, content)
        attempts = _Attempts()
        while True:
            # The token first (the first call of an environment reads the secret, which takes a while):
            # the pacer counts a call from when it allows it, so the request must leave right after.
            if not deadline.allows_call():
                detail = "not enough time left for another HubSpot call"
                return CallResult(failure=Failure(FailureCategory.TIME_BUDGET, detail, False))
            try:
                token = self._credentials.access_token(deadline)
            except CredentialError as error:
                return CallResult(
                    failure=Failure(FailureCategory.AUTHENTICATION, str(error), permanent=False)
                )
            wait_failure = self._wait_for_slot(deadline)
            if wait_failure is not None:
                return CallResult(failure=wait_failure)
            result = self._attempt(request, token, deadline, stats, attempts)
            if result is not None:
                return result

    def _attempt(
        self, request: _Request, token: str, deadline: Deadline, stats: CallStats, attempts: _Attempts
    ) -> CallResult | None:
        """One POST; None means "try again now" (the pacer and deadline are consulted first)."""
        started = time.perf_counter()
        sent_at = self._pacer.now()
        try:
            response, content = self._exchange(request, token, deadline.call_time_s())
        except httpx.HTTPError as error:
            stats.record((time.perf_counter() - started) * 1000, throttled=False)
            # After a timeout the write may or may not have happened: it is retried later through SQS
            # (writes are idempotent), not now, so a hanging HubSpot cannot eat the whole budget.
            if not isinstance(error, httpx.TimeoutException) and self._quick_retry(deadline, attempts):
                return None
            return CallResult(failure=_network_failure(error))
        except ResponseTooLarge:
            stats.record((time.perf_counter() - started) * 1000, throttled=False)
            detail = f"HubSpot's answer is larger than {MAX_RESPONSE_BYTES} bytes: not known to be applied"
            return CallResult(failure=Failure(FailureCategory.UNKNOWN_OUTCOME, detail, permanent=False))
        stats.record((time.perf_counter() - started) * 1000, throttled=response.status_code == 429)
        self._pacer.observe(RateLimitReport.from_headers(response.headers), sent_at=sent_at)
        if response.status_code == 429:
            self._pacer.release(sent_at)
        return self._on_response(response, _json_or_none(content), token, deadline, attempts)

    def _exchange(self, request: _Request, token: str, limit_s: float) -> tuple[httpx.Response, bytes]:
        """Send and read the whole answer within ``limit_s`` as ONE bound: httpx's timeouts bound each
        read, so a body trickling a byte at a time would otherwise hold the call far past it. Raises
        ``httpx.TimeoutException`` when the time is over, ``ResponseTooLarge`` past the size cap."""
        configured = self._client.timeout
        timeout = httpx.Timeout(
            connect=_at_most(configured.connect, limit_s),
            read=_at_most(configured.read, limit_s),
            write=_at_most(configured.write, limit_s),
            pool=_at_most(configured.pool, limit_s),
        )
        with _Watchdog(limit_s) as watchdog:
            built = self._client.build_request(
                "POST",
                request.path,
                params=request.params,
                content=request.content,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=timeout,
                extensions={"trace": watchdog.trace},
            )
            try:
                response = self._client.send(built, stream=True)
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

    def _on_response(
        self, response: httpx.Response, body: Any, token: str, deadline: Deadline, attempts: _Attempts
    ) -> CallResult | None:
        """Trust an answer only in HubSpot's documented shapes: a 2xx that is not a batch body leaves
        the outcome unknown (retried, never bisected), a 400/413 that is not HubSpot's error body (a
        proxy's HTML page) says HubSpot was not reached."""
        status = response.status_code
        answer = _batch_answer(status, body)
        if answer is not None:
            return answer
        if status == 429:
            return self._on_throttled(response, body, deadline, attempts)
        if status == 401 and not attempts.refreshed:
            attempts.refreshed = True
            self._credentials.refresh(stale=token)
            return None
        if (status >= 500 or status == 408) and self._quick_retry(deadline, attempts):
            return None
        category = _STATUS_CATEGORIES.get(status, FailureCategory.HUBSPOT_UNAVAILABLE)
        return CallResult(failure=Failure(category, _error_text(status, body), permanent=False))

    def _on_throttled(
        self, response: httpx.Response, body: Any, deadline: Deadline, attempts: _Attempts
    ) -> CallResult | None:
        policy = _policy_name(body)
        if policy == "DAILY":
            reset_s = seconds_until_daily_reset(datetime.now(UTC))
            detail = "HubSpot's daily request limit is used up"
            return CallResult(failure=Failure(FailureCategory.DAILY_LIMIT, detail, False, reset_s))
        wait_s = _retry_after(response)
        if wait_s is not None:
            self._pacer.block_for(wait_s)
        else:  # the pacer observed this 429's headers already: it knows the window
            wait_s = self._pacer.throttled()
        if attempts.throttled < MAX_TEN_SECONDLY_RETRIES and deadline.allows_call(after_wait_s=wait_s):
            attempts.throttled += 1
            return None
        detail = f"HubSpot rate limit ({policy or 'unknown policy'}); no time left to wait"
        return CallResult(failure=Failure(FailureCategory.RATE_LIMITED, detail, permanent=False))

    def _quick_retry(self, deadline: Deadline, attempts: _Attempts) -> bool:
        """One short, jittered retry per call for a transient server or connection failure."""
        if attempts.transient or not deadline.allows_call(after_wait_s=0.5):
            return False
        attempts.transient = True
        self._sleep(0.1 + 0.4 * random.random())
        return True

    def _wait_for_slot(self, deadline: Deadline) -> Failure | None:
        """Sleep until the pacer allows a call; give up (retryable) when the budget would run out."""
        while True:
            if not deadline.allows_call():
                return Failure(
                    FailureCategory.TIME_BUDGET, "not enough time left for another HubSpot call", False
                )
            delay = self._pacer.delay()
            if delay <= 0:
                return None
            if not deadline.allows_call(after_wait_s=delay):
                return Failure(
                    FailureCategory.RATE_LIMITED, "rate-limit pacing would exceed the time budget", False
                )
            self._sleep(delay)


def make_http_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One keep-alive client per execution environment, with explicit timeouts and a pool sized to the
    calls that may be in flight at once."""
    return httpx.Client(
        base_url=settings.api_base_url,
        timeout=httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.read_timeout_s,
            write=settings.read_timeout_s,
            pool=settings.connect_timeout_s,
        ),
        limits=httpx.Limits(
            max_connections=settings.max_in_flight, max_keepalive_connections=settings.max_in_flight
        ),
        headers={"Accept": "application/json"},
        transport=transport,
        follow_redirects=False,  # a redirect must never carry the token somewhere else
    )


class ResponseTooLarge(Exception):
    """HubSpot's answer passed MAX_RESPONSE_BYTES; reading stopped there."""


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
        self._timer = threading.Timer(limit_s, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
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

    def _expire(self) -> None:
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


def _encode(payload: Mapping[str, Any]) -> bytes | None:
    """The request body as httpx would encode it; None for what cannot be (e.g. a lone surrogate)."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None


def _at_most(configured: float | None, limit_s: float) -> float:
    return limit_s if configured is None else min(configured, limit_s)


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except (ValueError, RecursionError):
        return None


def _batch_answer(status: int, body: Any) -> CallResult | None:
    """The result of a 200/207/400/413 answer, judged by its body's shape; None for other statuses."""
    if status in (200, 207):
        if _is_batch_body(body):
            return CallResult(body=body)
        detail = f"HTTP {status} with a body that is not a batch response: not known to be applied"
        return CallResult(failure=Failure(FailureCategory.UNKNOWN_OUTCOME, detail, permanent=False))
    if status in (400, 413):
        if _is_error_body(body):
            return CallResult(rejected=_error_text(status, body))
        detail = f"HTTP {status} with a body that is not HubSpot's error shape (a proxy answered?)"
        return CallResult(failure=Failure(FailureCategory.HUBSPOT_UNAVAILABLE, detail, permanent=False))
    return None


def _is_batch_body(body: Any) -> bool:
    """HubSpot's batch response: an object with a string ``status`` and a ``results`` list."""
    return (
        isinstance(body, Mapping)
        and isinstance(body.get("status"), str)
        and isinstance(body.get("results"), list)
    )


def _is_error_body(body: Any) -> bool:
    """HubSpot's error response: an object with a string ``message`` and a ``category`` or ``status``."""
    return (
        isinstance(body, Mapping)
        and isinstance(body.get("message"), str)
        and (isinstance(body.get("category"), str) or body.get("status") == "error")
    )


def _policy_name(body: Any) -> str | None:
    if isinstance(body, Mapping) and isinstance(body.get("policyName"), str):
        return str(body["policyName"])
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (capped, with jitter) when HubSpot names a wait; None when it does not."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.05), MAX_RETRY_AFTER_S) * (1 + 0.2 * random.random())


def _error_text(status: int, body: Any) -> str:
    """HTTP status, category and HubSpot's message; never the request (it carries no token anyway)."""
    if isinstance(body, Mapping):
        category = body.get("category") or body.get("errorType") or "error"
        message = body.get("message") or ""
        return f"HTTP {status} {category}: {message}"[:MAX_DETAIL]
    return f"HTTP {status} with a body that is not JSON"


def _network_failure(error: httpx.HTTPError) -> Failure:
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    return Failure(FailureCategory.NETWORK, f"HubSpot call {kind}: {type(error).__name__}", permanent=False)
