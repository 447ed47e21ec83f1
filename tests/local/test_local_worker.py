"""The one worker's ways in: an event read from a raw payload file or built by a factory inside the
environment, a probe run with the handler, and the worker's own measurements of each invocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from local.aws.context import LambdaContext
from local.aws.runtime import ExecutionEnvironment, FunctionSpec


def test_an_event_read_from_a_payload_file_is_decoded_in_the_worker_and_measured(
    probe_spec: Callable[..., FunctionSpec], tmp_path: Path
) -> None:
    # GIVEN a raw payload of two records on disk
    payload = json.dumps({"Records": [{"messageId": "a", "body": "{}"}, {"messageId": "b", "body": "{}"}]})
    path = tmp_path / "payload.json"
    path.write_text(payload, encoding="utf-8")
    with ExecutionEnvironment(probe_spec("echo")) as environment:
        # WHEN the environment is invoked with the file
        result = environment.invoke(source={"payload_file": str(path)})
    # THEN the handler got the decoded event and the worker measured it
    assert result.status == "ok"
    (record,) = [r for r in result.log_records if r.get("message") == "probe"]
    assert record["message_ids"] == ["a", "b"]
    assert result.measures["payload_bytes"] == len(payload.encode())
    assert result.measures["records"] == 2
    assert result.measures["handler_ms"] >= 0
    assert result.measures["cpu_ms"] >= 0
    assert result.measures["rss_before_mb"] > 0
    assert result.max_memory_mb is not None
    assert result.max_memory_mb >= result.measures["rss_before_mb"]


def test_an_event_factory_runs_inside_the_worker(probe_spec: Callable[..., FunctionSpec]) -> None:
    with ExecutionEnvironment(probe_spec("echo")) as environment:
        result = environment.invoke(
            source={"event_from": {"factory": "probe:event_of", "args": {"count": 3}}}
        )
    (record,) = [r for r in result.log_records if r.get("message") == "probe"]
    assert record["message_ids"] == ["m-0", "m-1", "m-2"]
    assert result.measures["payload_bytes"] == 0


def test_a_probe_runs_with_the_warm_handler_and_answers_its_result(
    probe_spec: Callable[..., FunctionSpec],
) -> None:
    # GIVEN an environment that has served one invocation
    with ExecutionEnvironment(probe_spec("ok")) as environment:
        environment.invoke({"Records": []})
        # WHEN a probe is called in it
        result = environment.call("probe:count_records", {"x": 1}, timeout_s=10)
    # THEN the probe saw the loaded handler and its module state
    assert result.status == "ok"
    assert result.payload == {"handler": "ok", "invocations_so_far": 1, "args": {"x": 1}}


def test_a_failing_probe_is_an_error_not_a_crash(probe_spec: Callable[..., FunctionSpec]) -> None:
    with ExecutionEnvironment(probe_spec("ok")) as environment:
        result = environment.call("probe:no_such_probe", {}, timeout_s=10)
        pid_after = environment.pid
        alive = environment.alive
    assert result.status == "error"
    assert result.error is not None
    assert result.error["errorType"] == "AttributeError"
    assert alive
    assert pid_after == result.pid


def test_the_one_context_reads_the_runtimes_environment_and_counts_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the runtime's variables, as Lambda sets them
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    # WHEN a context is made with a 2 s budget
    context = LambdaContext(timeout_ms=2_000)
    # THEN it names the function, reports memory as a string, and counts down from the budget
    assert context.function_name == "fn"
    assert context.memory_limit_in_mb == "512"
    assert context.invoked_function_arn.endswith(":function:fn")
    assert context.log_group_name == "/aws/lambda/fn"
    assert 1_500 < context.get_remaining_time_in_millis() <= 2_000
