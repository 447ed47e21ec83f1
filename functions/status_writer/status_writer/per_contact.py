"""Per-contact mode: what a portal without HubSpot's batch scopes needs (README: Outcomes, per-contact mode).

Some portals answer every batch call with 403 ``MISSING_SCOPES`` (the batch scopes come with higher
Marketing Hub tiers), yet accept the per-contact endpoints, one contact a call. ``RouteModes`` remembers,
per route and per execution environment, which endpoint to use: after the first such 403 the route goes
per contact (logged once at WARNING, counted in ``PerContactMode``), and about every 15 minutes one call
probes the batch endpoint again, so a portal that gains the scope goes back to batches. ``fan_out``
sends inputs one call each (in parallel) and answers in the batch body shape ``outcomes.map_*`` read,
so outcomes, ordering and dead-lettering stay decided in one place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from status_writer.answers import MAX_DETAIL
from status_writer.model import Failure, FailureCategory
from status_writer.observability import logger, metrics
from status_writer.routes import BATCH_MODES, BATCH_SCOPES, Route

PROBE_AFTER_S = 900.0

Input = TypeVar("Input")


class Answer(Protocol):
    """What one HubSpot call ended in (``answers.CallResult``, read structurally)."""

    @property
    def body(self) -> Any: ...

    @property
    def rejected(self) -> str | None: ...

    @property
    def failure(self) -> Failure | None: ...


def lacks_batch_scope(answer: Answer) -> bool:
    """A 403 ``MISSING_SCOPES``: the portal's token may not call this batch route at all."""
    failure = answer.failure
    return (
        failure is not None
        and failure.category is FailureCategory.MISSING_SCOPES
        and "MISSING_SCOPES" in failure.detail
    )


class RouteModes:
    """Batch or per contact, per route, for one execution environment. Thread-safe."""

    def __init__(
        self,
        configured: str = "auto",
        *,
        clock: Callable[[], float] = time.monotonic,
        probe_after_s: float = PROBE_AFTER_S,
        workers: int = 4,
    ) -> None:
        if configured not in BATCH_MODES:
            raise ValueError(f"unknown batch mode {configured!r}; allowed: {', '.join(BATCH_MODES)}")
        self.configured = configured
        self._clock = clock
        self._probe_after_s = probe_after_s
        self._since: dict[Route, float] = {}  # route -> when it went per contact (or was last probed)
        self._lock = threading.Lock()
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        """Threads for a fan-out (as many as the calls allowed in flight), started on first use: the
        chunk that met the 403 goes per contact in parallel, like the chunks of 1 after it."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="per-contact")
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None

    def per_contact(self, route: Route) -> bool:
        """Whether calls of ``route`` go per contact now (a due probe does not count: it is a batch)."""
        if self.configured != "auto":
            return self.configured == "per-contact"
        with self._lock:
            since = self._since.get(route)
            return since is not None and self._clock() - since < self._probe_after_s

    def take_batch(self, route: Route) -> bool:
        """Whether the next call of ``route`` goes to the batch endpoint; a due probe is taken by the
        caller that asks first, so concurrent chunks do not probe together."""
        if self.configured != "auto":
            return self.configured == "batch"
        with self._lock:
            since = self._since.get(route)
            if since is None:
                return True
            if self._clock() - since >= self._probe_after_s:
                self._since[route] = self._clock()
                return True
            return False

    def inputs_per_call(self, route: Route, batch_limit: int) -> int:
        """How many inputs one call of ``route`` carries: 1 per contact, so the sender parallelises."""
        return 1 if self.per_contact(route) else batch_limit

    def after_batch(self, route: Route, answer: Answer) -> bool:
        """Learn from a batch call's answer. True: the route lacks the batch scope, send its inputs per
        contact now. False: the answer stands (success, another failure, or batch mode is forced)."""
        if not lacks_batch_scope(answer):
            if answer.failure is None:
                self._batch_works(route)
            return False
        if self.configured == "batch":
            return False
        with self._lock:
            first = route not in self._since
            self._since[route] = self._clock()
        if first:
            assert answer.failure is not None
            logger.warning(
                "HubSpot refused a batch call for missing scopes; this route goes per contact",
                extra={
                    "route": route.value,
                    "missing_scopes": [BATCH_SCOPES[route]],
                    "hubspot_said": answer.failure.detail,
                    "probe_again_after_s": self._probe_after_s,
                },
            )
            metrics.add_metric(name="PerContactMode", unit="Count", value=1)
        return True

    def _batch_works(self, route: Route) -> None:
        with self._lock:
            was_per_contact = self._since.pop(route, None) is not None
        if was_per_contact:
            logger.info("HubSpot accepts batch calls again; back to batches", extra={"route": route.value})


def fan_out(
    inputs: Sequence[Input],
    send_one: Callable[[Input], Answer],
    names: Callable[[Input], Mapping[str, list[str]]],
    result_of: Callable[[Input, Any], dict[str, Any]],
    workers: Executor | None = None,
) -> dict[str, Any] | Failure:
    """One call per input (on ``workers`` in parallel, else in order), answered as one batch body.

    ``names`` gives the error ``context`` that names an input (email, subscription id) and
    ``result_of`` the ``results`` entry of an applied one, from its input and its call's answer. A whole-request 400 of one contact becomes
    that input's ``VALIDATION_ERROR`` (dead-lettered with HubSpot's reason, no bisection needed). Once
    a call fails otherwise (rate limit, time budget, network), no further call starts: they would fail
    alike. If no input got anything but that failure, it stands for all (same category and wait);
    otherwise the inputs it cost come back as retryable errors and the rest keep their outcome.
    """
    stop = threading.Event()

    def one(item: Input) -> Answer | None:
        if stop.is_set():
            return None
        answer = send_one(item)
        if answer.failure is not None:
            stop.set()
        return answer

    parallel = workers is not None and len(inputs) > 1
    answers = list(workers.map(one, inputs)) if parallel and workers else [one(item) for item in inputs]
    failure = next((a.failure for a in answers if a is not None and a.failure is not None), None)
    if failure is not None and all(a is None or a.failure is not None for a in answers):
        return failure
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item, answer in zip(inputs, answers, strict=True):
        if answer is None or answer.failure is not None:
            cause = failure if answer is None or answer.failure is None else answer.failure
            assert cause is not None  # a call was skipped only after one failed
            errors.append(_error(cause.category.value, cause.detail, names(item)))
        elif answer.rejected is not None:
            errors.append(_error("VALIDATION_ERROR", answer.rejected, names(item)))
        elif isinstance(answer.body, Mapping) and answer.body.get("status") == "COMPLETE":
            results.append(result_of(item, answer.body))
        else:
            status = str(answer.body.get("status"))[:40] if isinstance(answer.body, Mapping) else "no JSON"
            errors.append(_error("UNKNOWN", f"per-contact answer {status}, not COMPLETE", names(item)))
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return body


def write_names(item: Mapping[str, Any]) -> dict[str, list[str]]:
    """The error context naming one ``PublicStatusRequest`` input."""
    return {"ids": [str(item["subscriberIdString"])], "subscriptionId": [str(item["subscriptionId"])]}


# What a per-contact write's answer passes on: the reason says whether the call set the status (a
# NO_STATUS_CHANGE keeps the timestamp and source of whoever did, which are not the function's own).
_KEPT = ("timestamp", "source", "setStatusSuccessReason")


def write_result(item: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """The ``results`` entry of an applied write: the key ``outcomes.map_batch_response`` matches on,
    with the ``timestamp`` HubSpot gave the status (the ledger keeps it) and why."""
    entry = {"subscriberIdString": item["subscriberIdString"], "subscriptionId": item["subscriptionId"]}
    for status in _results(body):
        if status.get("subscriptionId") == item["subscriptionId"]:
            entry.update({name: status[name] for name in _KEPT if name in status})
    return entry


def partial_request(item: Mapping[str, Any]) -> dict[str, Any]:
    """A batch input as the per-contact body: the same fields without ``subscriberIdString`` (in the path)."""
    return {key: value for key, value in item.items() if key != "subscriberIdString"}


def email_names(email: str) -> dict[str, list[str]]:
    return {"ids": [email]}


def email_result(email: str, body: Any) -> dict[str, Any]:
    """An applied opt-out, with the statuses it set (``verbose``), as the batch answer lists them."""
    return {"subscriberIdString": email, "statuses": _results(body)}


def read_result(field: str) -> Callable[[str, Any], dict[str, Any]]:
    """A per-contact read (``GET statuses/{email}``, ``…/unsubscribe-all``) as a batch read result:
    its ``results`` under ``field`` (``statuses`` or ``wideStatuses``)."""

    def result(email: str, body: Any) -> dict[str, Any]:
        return {"subscriberIdString": email, field: _results(body)}

    return result


def _results(body: Any) -> list[Mapping[str, Any]]:
    results = body.get("results") if isinstance(body, Mapping) else None
    return [r for r in results if isinstance(r, Mapping)] if isinstance(results, list) else []


def _error(category: str, message: str, context: Mapping[str, list[str]]) -> dict[str, Any]:
    return {"category": category, "message": message[:MAX_DETAIL], "context": dict(context)}
