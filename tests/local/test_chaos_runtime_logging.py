"""A chaos run's workers log as the Lambda runtime sets logging up (local.chaos.lambda_logging): a
handler on the root logger at AWS_LAMBDA_LOG_LEVEL, so a DEBUG run writes library DEBUG lines to the log
invariant 4 scans, and an INFO run does not."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from local.aws.runtime import ExecutionEnvironment, FunctionSpec
from local.chaos.cli import RUNTIME_HANDLER, WRAPPED_HANDLER


@pytest.mark.parametrize(("level", "written"), [("DEBUG", True), ("INFO", False)])
def test_a_root_logger_debug_line_reaches_the_worker_log_only_at_debug(
    probe_spec: Callable[..., FunctionSpec], tmp_path: Path, level: str, written: bool
) -> None:
    # GIVEN a worker behind the runtime's logging set-up whose "template handler" is a library call
    # logging through the root logger at DEBUG (logging.debug(event, context))
    spec = probe_spec("ok", AWS_LAMBDA_LOG_LEVEL=level, **{WRAPPED_HANDLER: "logging.debug"})
    spec = dataclasses.replace(spec, handler=RUNTIME_HANDLER)
    log = tmp_path / "worker.log"
    with ExecutionEnvironment(spec, log_file=log, repo_importable=True) as environment:
        # WHEN it is invoked
        result = environment.invoke("library detail for %s")
    # THEN the invocation succeeded, and the DEBUG line is in the worker's log exactly at DEBUG
    assert result.status == "ok", result.error
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("[DEBUG]") and "library detail for" in line for line in lines) is written
