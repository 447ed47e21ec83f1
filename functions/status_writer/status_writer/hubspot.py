"""The HubSpot client: auth, pacing and the retries that belong in-call.

It turns every way a call can end into a ``CallResult`` (``answers``): a parsed batch body, a whole-batch
rejection (to bisect), or a ``Failure`` that says whether trying again later can help. It never raises
for an expected failure. The bytes on the wire are ``transport``'s job.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from status_writer.answers import CallResult, batch_answer, policy_name, status_failure
from status_writer.backoff import seconds_until_daily_reset
from status_writer.calls import CallContext
from status_writer.credentials import CredentialError, Credentials
from status_writer.deadline import Deadline
from status_writer.model import Failure, FailureCategory
from status_writer.per_contact import (
    RouteModes,
    email_names,
    email_result,
    fan_out,
    partial_request,
    read_result,
    write_names,
    write_result,
)
from status_writer.rate_limit import RateLimitPacer, RateLimitReport, retry_after_s
from status_writer.routes import ApiPaths, Route
from status_writer.transport import (
    MAX_RESPONSE_BYTES,
    Request,
    ResponseTooLarge,
    answer_body,
    encode,
    exchange,
)
from status_writer.waits import WaitBudget

MAX_TEN_SECONDLY_RETRIES = 3
_PORTAL_WAIT = "this portal's rate limit is used up for now; its records come back, the other portals go on"

Item = TypeVar("Item")


@dataclass(slots=True)
class _Attempts:
    """The in-call retries already spent on one batch."""

    refreshed: bool = False
    throttled: int = 0
    transient: bool = False


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
        self.waits = WaitBudget()  # this invocation's rate-limit waits (README: Many portals)
        self.own_sources: set[str] = set()  # the ``source`` HubSpot gives this client's writes (freshness)

    @property
    def http(self) -> httpx.Client:
        """The keep-alive client (one per environment, shared by every portal's client)."""
        return self._client

    def close(self) -> None:
        self.modes.close()
        self._client.close()

    def inputs_per_call(self, route: Route, batch_limit: int) -> int:
        """Inputs one call of ``route`` carries now: ``batch_limit``, or 1 in per-contact mode."""
        return self.modes.inputs_per_call(route, batch_limit)

    def write_statuses(self, inputs: Sequence[Mapping[str, Any]], call: CallContext) -> CallResult:
        """One batch/write call (``PublicStatusRequest`` inputs); per contact, one
        ``POST statuses/{email}`` per input."""
        items = list(inputs)
        return self._batch_or_each(
            Route.WRITE,
            lambda: self._call(self.paths.batch_write, None, {"inputs": items}, call),
            items,
            lambda item: self._call(
                self.paths.contact_status(str(item["subscriberIdString"])), None, partial_request(item), call
            ),
            names=write_names,
            result_of=write_result,
        )

    def unsubscribe_all(
        self,
        emails: Sequence[str],
        channel: str,
        business_unit_id: int | None,
        call: CallContext,
    ) -> CallResult:
        """One batch/unsubscribe-all call; ``verbose`` so the answer names each contact it applied to.
        Per contact, one ``POST statuses/{email}/unsubscribe-all`` per contact."""
        params: dict[str, str] = {"channel": channel, "verbose": "true"}
        if business_unit_id is not None:
            params["businessUnitId"] = str(business_unit_id)
        addresses = list(emails)
        return self._batch_or_each(
            Route.UNSUBSCRIBE_ALL,
            lambda: self._call(self.paths.batch_unsubscribe_all, params, {"inputs": addresses}, call),
            addresses,
            lambda email: self._call(self.paths.contact_unsubscribe_all(email), params, {}, call),
            names=email_names,
            result_of=email_result,
        )

    def read(self, emails: Sequence[str], channel: str, *, wide: bool, call: CallContext) -> CallResult:
        """One batch read of the contacts' statuses (``wide``: their wide opt-outs); per contact, one
        ``GET statuses/{email}`` (``…/unsubscribe-all``) each (README: Outcomes, HubSpot-side changes)."""
        params = {"channel": channel}
        batch_path = self.paths.batch_unsubscribe_all_read if wide else self.paths.batch_read
        one_path = self.paths.contact_unsubscribe_all if wide else self.paths.contact_status
        addresses = list(emails)
        return self._batch_or_each(
            Route.READ,
            lambda: self._call(batch_path, params, {"inputs": addresses}, call),
            addresses,
            lambda email: self._call(one_path(email), params, None, call),
            names=email_names,
            result_of=read_result("wideStatuses" if wide else "statuses"),
        )

    def _batch_or_each(
        self,
        route: Route,
        batch: Callable[[], CallResult],
        items: Sequence[Item],
        one: Callable[[Item], CallResult],
        *,
        names: Callable[[Item], Mapping[str, list[str]]],
        result_of: Callable[[Item, Any], dict[str, Any]],
    ) -> CallResult:
        """The batch call while ``route`` is batched; in per-contact mode, or right after the batch
        route answered 403 MISSING_SCOPES, one call per input answered as one batch body (README:
        Outcomes, per-contact mode)."""
        if self.modes.take_batch(route):
            answer = batch()
            if not self.modes.after_batch(route, answer):
                return answer
        shaped = fan_out(items, one, names, result_of, self.modes.executor())
        return CallResult(failure=shaped) if isinstance(shaped, Failure) else CallResult(body=shaped)

    def _call(
        self,
        path: str,
        params: Mapping[str, str] | None,
        payload: Mapping[str, Any] | None,
        call: CallContext,
    ) -> CallResult:
        """POST ``payload`` (GET without one) with the in-call retries: a credential refresh after a
        401, waits after ten-secondly 429s and one quick retry after a 5xx or connection failure, each
        only while the time budget allows."""
        content = b"" if payload is None else encode(payload)
        if content is None:  # costs only the inputs that caused it: the caller bisects a rejection
            return CallResult(rejected="the request could not be encoded as UTF-8 JSON")
        request = Request(path, params, content, "GET" if payload is None else "POST")
        attempts = _Attempts()
        deadline = call.deadline
        while True:
            # The token first (a first read of the secret takes a while): the pacer counts from its yes.
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
            result = self._attempt(request, token, call, attempts)
            if result is not None:
                return result

    def _attempt(
        self, request: Request, token: str, call: CallContext, attempts: _Attempts
    ) -> CallResult | None:
        """One call; None means "try again now" (the pacer and deadline are consulted first)."""
        deadline, stats = call.deadline, call.stats
        started = time.perf_counter()
        sent_at = self._pacer.now()
        try:
            response, content = exchange(self._client, request, token, deadline.call_time_s())
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
        return self._on_response(response, answer_body(content, token), token, deadline, attempts)

    def _on_response(
        self, response: httpx.Response, body: Any, token: str, deadline: Deadline, attempts: _Attempts
    ) -> CallResult | None:
        """Trust an answer only in HubSpot's documented shapes: a 2xx that is not a batch body leaves
        the outcome unknown (retried, never bisected), a 400/413 that is not HubSpot's error body (a
        proxy's HTML page) says HubSpot was not reached."""
        status = response.status_code
        answer = batch_answer(status, body)
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
        return status_failure(status, body)

    def _on_throttled(
        self, response: httpx.Response, body: Any, deadline: Deadline, attempts: _Attempts
    ) -> CallResult | None:
        policy = policy_name(body)
        if policy == "DAILY":
            reset_s = seconds_until_daily_reset(datetime.now(UTC))
            detail = "HubSpot's daily request limit is used up"
            return CallResult(failure=Failure(FailureCategory.DAILY_LIMIT, detail, False, reset_s))
        wait_s = retry_after_s(response.headers)
        if wait_s is not None:
            self._pacer.block_for(wait_s)
        else:  # the pacer observed this 429's headers already: it knows the window
            wait_s = self._pacer.throttled()
        waits = self.waits.allows(wait_s) and deadline.allows_call(after_wait_s=wait_s)
        if attempts.throttled < MAX_TEN_SECONDLY_RETRIES and waits:
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
            step = self.waits.step(delay)
            if step is None:  # one portal of several: it would hold the others
                return Failure(FailureCategory.RATE_LIMITED, _PORTAL_WAIT, False, math.ceil(delay))
            if not deadline.allows_call(after_wait_s=step):
                return Failure(FailureCategory.RATE_LIMITED, "pacing would exceed the time budget", False)
            self._sleep(step)


def _network_failure(error: httpx.HTTPError) -> Failure:
    """A call that got no answer: retried later through SQS."""
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    return Failure(FailureCategory.NETWORK, f"HubSpot call {kind}: {type(error).__name__}", permanent=False)
