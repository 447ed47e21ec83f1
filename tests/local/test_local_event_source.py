"""The local event source against moto with test handlers: what it deletes, what it leaves to the
visibility timeout, how it batches and how many invocations it runs at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from local_helpers import depth, probes, send

from local.aws.event_source import EventSourceMapping, SqsEventSource
from local.aws.runtime import FunctionSpec


def settled(count: int) -> Callable[[SqsEventSource], bool]:
    """Until `count` records have been through invocations."""
    return lambda source: sum(len(i.message_ids) for i in source.invocations) >= count


def mapping(url: str, arn: str, **settings: Any) -> EventSourceMapping:
    """One slot and BatchSize 10 unless a test says otherwise."""
    defaults = {"batch_size": 10, "maximum_concurrency": 1}
    return EventSourceMapping(queue_url=url, queue_arn=arn, poll_wait_s=0, **{**defaults, **settings})


def test_a_successful_batch_is_deleted(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
) -> None:
    # GIVEN five messages
    url, arn = make_queue()
    ids = send(sqs, url, *({"n": n} for n in range(5)))
    # WHEN a handler that reports nothing failed processes them
    source = run_source(mapping(url, arn), probe_spec("ok"), until=settled(5))
    # THEN all were deleted and the queue is empty
    assert {i for inv in source.invocations for i in inv.deleted_ids} == set(ids)
    assert depth(sqs, url) == (0, 0)


def test_listed_failures_come_back_after_their_visibility_timeout(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
) -> None:
    # GIVEN three messages, one of which the handler will report as failed
    url, arn = make_queue(visibility_s=3)
    ok_1, failing, ok_2 = send(sqs, url, {"n": 1}, {"n": 2, "fail": True}, {"n": 3})
    # WHEN the handler answers with that one failure
    source = run_source(mapping(url, arn), probe_spec("fail_marked"), until=settled(3))
    # THEN the other two are deleted at once and the failed one is left in flight, not deleted
    (first,) = source.invocations
    assert first.verdict.kind == "partial"
    assert sorted(first.deleted_ids) == sorted([ok_1, ok_2])
    assert depth(sqs, url) == (0, 1)
    # AND after its visibility timeout it is delivered again, with its receive count raised
    again = run_source(mapping(url, arn), probe_spec("fail_marked"), until=settled(1), timeout_s=10)
    (second,) = again.invocations
    assert second.message_ids == [failing]
    assert second.receive_counts == {failing: 2}


@pytest.mark.parametrize(
    ("handler", "timeout_s", "status"),
    [("raise_error", 5.0, "error"), ("sleep_past_timeout", 1.0, "timeout"), ("exit_process", 5.0, "error")],
    ids=["raises", "times-out", "runtime-exits"],
)
def test_a_failed_invocation_deletes_nothing(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
    *,
    handler: str,
    timeout_s: float,
    status: str,
) -> None:
    # GIVEN three messages and a handler that fails as a whole
    url, arn = make_queue(visibility_s=30)
    send(sqs, url, {"n": 1}, {"n": 2}, {"n": 3})
    # WHEN it is invoked with them
    source = run_source(mapping(url, arn), probe_spec(handler, timeout_s=timeout_s), until=settled(3))
    # THEN the batch failed, nothing was deleted and all three wait for their visibility timeout
    (invocation,) = source.invocations
    assert invocation.result.status == status
    assert invocation.verdict.kind == "failed"
    assert invocation.deleted_ids == []
    assert depth(sqs, url) == (0, 3)


@pytest.mark.parametrize(
    "answer",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"ItemIdentifier": "$first"}]},
    ],
    ids=["unknown-id", "empty-id", "null-id", "wrong-key"],
)
def test_a_malformed_answer_deletes_nothing(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
    answer: dict[str, Any],
) -> None:
    # GIVEN two messages and a handler that answers with a malformed partial batch response
    url, arn = make_queue(visibility_s=30)
    send(sqs, url, {"answer": answer}, {"n": 2})
    # WHEN it is invoked with them
    source = run_source(mapping(url, arn), probe_spec("answer_from_env"), until=settled(2))
    # THEN the whole batch counts as failed and both messages stay in flight
    assert [i.verdict.kind for i in source.invocations] == ["failed"]
    assert depth(sqs, url) == (0, 2)


def test_a_big_batch_gathers_several_receives_within_the_window(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
) -> None:
    # GIVEN 25 messages that arrive in three sends spread over half a second
    url, arn = make_queue()
    ids = send(sqs, url, *({"n": n} for n in range(10)))
    # WHEN an event source with BatchSize 25 and a 3 s window polls while the rest arrives
    source = SqsEventSource(
        mapping(url, arn, batch_size=25, batching_window_s=3, maximum_concurrency=1), probe_spec("ok")
    )
    source.start()
    try:
        time.sleep(0.25)
        ids += send(sqs, url, *({"n": n} for n in range(10, 20)))
        time.sleep(0.25)
        ids += send(sqs, url, *({"n": n} for n in range(20, 25)))
        end = time.monotonic() + 15
        while time.monotonic() < end and not settled(25)(source):
            time.sleep(0.05)
    finally:
        source.stop()
    # THEN one invocation got all 25 (more than one ReceiveMessage can return)
    assert [sorted(i.message_ids) for i in source.invocations] == [sorted(ids)]


def test_a_small_batch_size_caps_each_invocation(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
) -> None:
    url, arn = make_queue()
    send(sqs, url, *({"n": n} for n in range(12)))
    source = run_source(
        mapping(url, arn, batch_size=4, maximum_concurrency=1), probe_spec("ok"), until=settled(12)
    )
    sizes = [len(i.message_ids) for i in source.invocations]
    assert sum(sizes) == 12
    assert max(sizes) <= 4


def test_the_payload_limit_splits_batches_and_loses_nothing(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
) -> None:
    # GIVEN ten 1 KB messages and a 3 KB invocation payload limit
    url, arn = make_queue()
    ids = send(sqs, url, *({"n": n, "pad": "x" * 1000} for n in range(10)))
    settings = mapping(url, arn, max_payload_bytes=3_000)
    # WHEN they are delivered
    source = run_source(settings, probe_spec("echo"), until=settled(10))
    # THEN no invocation carried more than the limit, and every message was delivered once
    for record in probes(source):
        assert len(str(record["event"]).encode()) < 3_500
    assert sorted(i for inv in source.invocations for i in inv.message_ids) == sorted(ids)
    assert len(source.invocations) >= 4


def test_slots_run_concurrently_up_to_maximum_concurrency_each_in_its_own_process(
    sqs: Any,
    make_queue: Callable[..., tuple[str, str]],
    probe_spec: Callable[..., FunctionSpec],
    run_source: Any,
) -> None:
    # GIVEN many small batches and a handler that takes a while
    url, arn = make_queue()
    send(sqs, url, *({"n": n} for n in range(12)))
    spec = probe_spec("ok", PROBE_SLEEP_S="0.4")
    # WHEN an event source with MaximumConcurrency 3 drains them two at a time
    source = run_source(mapping(url, arn, batch_size=2, maximum_concurrency=3), spec, until=settled(12))
    # THEN at most three invocations overlapped (and three did), in three warm worker processes
    spans = [(i.started, i.ended) for i in source.invocations]
    overlaps = [sum(1 for s, e in spans if s <= start < e) for start, _ in spans]
    assert max(overlaps) == 3
    pids = {record["pid"] for record in probes(source)}
    assert len(pids) == 3
    by_pid: dict[int, list[int]] = {}
    for record in probes(source):
        by_pid.setdefault(record["pid"], []).append(record["invocations"])
    assert all(counts == list(range(1, len(counts) + 1)) for counts in by_pid.values())
