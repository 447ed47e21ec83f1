"""One execution environment per slot: a warm worker process that imports the handler once, a context
that counts down from the function timeout, and Lambda's reset after a timeout or a crash."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from local_helpers import HANDLERS

from local.aws.context import LambdaContext
from local.aws.runtime import ExecutionEnvironment, FunctionSpec, InitError

EVENT = {"Records": [{"messageId": "m-1", "body": "{}"}]}


def probe(result: object) -> dict[str, object]:
    (record,) = [r for r in result.log_records if r.get("message") == "probe"]  # type: ignore[attr-defined]
    return record


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_warm_environment_keeps_its_module_state(probe_spec: Callable[..., FunctionSpec]) -> None:
    # GIVEN one environment
    with ExecutionEnvironment(probe_spec("ok")) as environment:
        # WHEN it serves three invocations
        results = [environment.invoke(EVENT) for _ in range(3)]
    # THEN one process imported the handler once and its module state counted every invocation
    records = [probe(r) for r in results]
    assert {r["pid"] for r in records} == {results[0].pid}
    assert len({r["loaded_at"] for r in records}) == 1
    assert [r["invocations"] for r in records] == [1, 2, 3]
    assert [r.cold_start for r in results] == [True, False, False]
    assert all(r.status == "ok" and r.payload is None for r in results)


def test_the_context_counts_down_from_the_function_timeout(probe_spec: Callable[..., FunctionSpec]) -> None:
    # GIVEN a function with a 4 s timeout
    with ExecutionEnvironment(probe_spec("ok", timeout_s=4)) as environment:
        # WHEN it is invoked
        record = probe(environment.invoke(EVENT, request_id="req-1"))
    # THEN its context starts at (just under) 4,000 ms and carries Lambda's attributes
    assert 3000 < int(record["remaining_ms"]) <= 4000
    assert record["request_id"] == "req-1"
    assert record["memory"] == "128"  # a string, as the real runtime reads it from the environment
    assert record["function_name"] == "local-function"


def test_the_remaining_time_never_goes_negative() -> None:
    context = LambdaContext(aws_request_id="r", deadline_ms=0, invoked_function_arn="arn")
    assert context.get_remaining_time_in_millis() == 0


def test_a_timed_out_invocation_is_stopped_and_the_next_one_starts_cold(
    probe_spec: Callable[..., FunctionSpec],
) -> None:
    # GIVEN a handler that sleeps past a 1 s timeout
    with ExecutionEnvironment(probe_spec("sleep_past_timeout", timeout_s=1)) as environment:
        # WHEN it is invoked twice
        first = environment.invoke(EVENT)
        first_pid_alive = alive(first.pid)
        second = environment.invoke(EVENT)
    # THEN the first is reported as a timeout and its process is gone
    assert first.status == "timeout"
    assert first.error is not None
    assert "timed out after 1.00 seconds" in first.error["errorMessage"]
    assert not first_pid_alive
    # AND the second ran in a fresh environment (a cold start, module state reset)
    assert second.cold_start
    assert second.pid != first.pid
    assert probe(second)["invocations"] == 1


def test_an_exception_is_an_error_but_the_environment_stays_warm(
    probe_spec: Callable[..., FunctionSpec],
) -> None:
    with ExecutionEnvironment(probe_spec("raise_error")) as environment:
        first = environment.invoke(EVENT)
        second = environment.invoke(EVENT)
    assert first.status == "error"
    assert first.error is not None
    assert (first.error["errorType"], first.error["errorMessage"]) == ("RuntimeError", "boom")
    assert any("Traceback" in line for line in first.log_lines)
    assert second.pid == first.pid
    assert not second.cold_start
    assert probe(second)["invocations"] == 2


def test_a_handler_that_exits_the_runtime_gets_a_fresh_environment(
    probe_spec: Callable[..., FunctionSpec],
) -> None:
    with ExecutionEnvironment(probe_spec("exit_process")) as environment:
        first = environment.invoke(EVENT)
        second = environment.invoke(EVENT)
    assert first.status == "error"
    assert first.error is not None
    assert first.error["errorType"] == "Runtime.ExitError"
    assert second.pid != first.pid
    assert second.cold_start


def test_an_answer_that_is_not_json_is_an_invocation_error(probe_spec: Callable[..., FunctionSpec]) -> None:
    with ExecutionEnvironment(probe_spec("not_json")) as environment:
        result = environment.invoke(EVENT)
    assert result.status == "error"
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.MarshalError"


def test_a_handler_that_cannot_be_imported_fails_init() -> None:
    spec = FunctionSpec(handler="missing_module.handler", code_uri=HANDLERS, timeout_s=2)
    with pytest.raises(InitError, match="missing_module"):
        ExecutionEnvironment(spec).start()


def test_the_handler_sees_only_its_own_environment_and_code(
    probe_spec: Callable[..., FunctionSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a developer shell with an AWS profile, and a function variable from the template
    monkeypatch.setenv("AWS_PROFILE", "production")
    with ExecutionEnvironment(probe_spec("ok", PROBE_MARKER="from-template")) as environment:
        record = probe(environment.invoke(EVENT))
    # THEN the handler sees the template's variable, not the shell's profile, and not the repository
    assert record["env_marker"] == "from-template"
    assert record["aws_profile"] is None
    assert record["repository_on_path"] is False


def test_stopping_ends_the_worker_process(probe_spec: Callable[..., FunctionSpec]) -> None:
    environment = ExecutionEnvironment(probe_spec("ok"))
    environment.start()
    pid = environment.pid
    assert alive(pid)
    environment.close()
    assert not alive(pid)


def test_logs_go_to_the_environments_log_file(
    probe_spec: Callable[..., FunctionSpec], tmp_path: Path
) -> None:
    log = tmp_path / "slot.log"
    with ExecutionEnvironment(probe_spec("ok"), log_file=log) as environment:
        environment.invoke(EVENT, request_id="req-7")
    text = log.read_text()
    assert "START RequestId: req-7" in text
    assert '"message": "probe"' in text
    assert "REPORT RequestId: req-7" in text
