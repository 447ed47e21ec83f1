"""Send inputs to HubSpot: chunked, in parallel (bounded by the executor), a whole-batch 400 bisected
until the bad inputs stand alone. Results come back in input order, one per input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from status_writer.answers import CallResult
from status_writer.chunk import chunk, halves
from status_writer.model import Failure, FailureCategory, ItemResult, StatusUpdate, UnsubscribeAll
from status_writer.observability import logger
from status_writer.outcomes import map_batch_response, map_unsubscribe_response
from status_writer.routes import Route
from status_writer.runtime import Invocation

Item = TypeVar("Item", StatusUpdate, UnsubscribeAll)
ChunkSender = Callable[[Invocation, Sequence[Item]], list[ItemResult]]


def chunk_size(invocation: Invocation, route: Route) -> int:
    """How many inputs one call of ``route`` carries (the one place that decides it): the batch limit,
    or 1 while the route is per contact (README: Outcomes, per-contact mode)."""
    return invocation.runtime.hubspot.inputs_per_call(route, invocation.runtime.settings.batch_limit)


def send_writes(invocation: Invocation, writes: Sequence[StatusUpdate]) -> list[ItemResult]:
    return _send(invocation, writes, _write_chunk, Route.WRITE)


def send_opt_outs(invocation: Invocation, requests: Sequence[UnsubscribeAll]) -> list[ItemResult]:
    """channel and businessUnitId are query parameters, so each (channel, brand) group is its own call."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault((request.channel, request.business_unit_id), []).append(index)
    results: list[ItemResult] = [ItemResult()] * len(requests)
    for indexes in groups.values():
        part = _send(invocation, [requests[i] for i in indexes], _opt_out_chunk, Route.UNSUBSCRIBE_ALL)
        for index, result in zip(indexes, part, strict=True):
            results[index] = result
    return results


def _send(
    invocation: Invocation, items: Sequence[Item], send_chunk: ChunkSender[Item], route: Route
) -> list[ItemResult]:
    """Chunks go out in parallel; a bug in one chunk costs only that chunk (its records come back)."""
    size = chunk_size(invocation, route)
    executor = invocation.runtime.executor
    futures: list[tuple[Sequence[Item], Future[list[ItemResult]]]] = [
        (part, executor.submit(send_chunk, invocation, part)) for part in chunk(items, size)
    ]
    results: list[ItemResult] = []
    for part, future in futures:
        try:
            results.extend(future.result())
        except Exception:
            logger.exception("unexpected error while sending a chunk; its records will be retried")
            failure = Failure(
                FailureCategory.INTERNAL_ERROR, "unexpected error while sending", permanent=False
            )
            results.extend([ItemResult(failure)] * len(part))
    return results


def _write_chunk(invocation: Invocation, inputs: Sequence[StatusUpdate]) -> list[ItemResult]:
    """One batch/write call."""
    answer = invocation.runtime.hubspot.write_statuses(
        [update.to_input() for update in inputs], invocation.call
    )
    if answer.body is not None:
        results = map_batch_response(inputs, answer.body)
        # The source HubSpot names the function's own writes by (README: Outcomes, HubSpot-side changes).
        invocation.runtime.hubspot.own_sources.update(r.source for r in results if r.source is not None)
        return results
    return _unanswered(invocation, inputs, answer, _write_chunk)


def _opt_out_chunk(invocation: Invocation, inputs: Sequence[UnsubscribeAll]) -> list[ItemResult]:
    """One batch/unsubscribe-all call for one (channel, brand)."""
    first = inputs[0]
    answer = invocation.runtime.hubspot.unsubscribe_all(
        [request.email for request in inputs],
        first.channel,
        first.business_unit_id,
        invocation.call,
    )
    if answer.body is not None:
        return map_unsubscribe_response(inputs, answer.body)
    return _unanswered(invocation, inputs, answer, _opt_out_chunk)


def _unanswered(
    invocation: Invocation, inputs: Sequence[Item], answer: CallResult, again: ChunkSender[Item]
) -> list[ItemResult]:
    """A call without a batch body: its failure for every input, or bisection after a whole-batch 400."""
    if answer.failure is not None:
        return [ItemResult(answer.failure)] * len(inputs)
    detail = answer.rejected or "HubSpot rejected the batch"
    if len(inputs) == 1:
        return [ItemResult(Failure(FailureCategory.HUBSPOT_REJECTED_BATCH, detail, permanent=True))]
    left, right = halves(inputs)
    return again(invocation, left) + again(invocation, right)
