"""`make invoke EVENT=events/....json`: one SQS event through the real handler, without Docker.

    make invoke EVENT=events/sqs-batch.json
    python -m local.invoke events/sqs-fifo.json --parameter LogLevel=DEBUG

It stands up what `make run` does (moto with the template's queue, DLQ, secret and ordering ledger,
and the HubSpot emulator), then runs the handler once in the local Lambda worker with a LambdaContext
counting down from the template's timeout, prints the function's log lines and its partial batch
response, and stops everything. The event is passed as it is, as `sam local invoke -e` passes it (which
needs Docker): its receipt handles and queue ARN are the file's, so a visibility change the function
makes for a retryable record is refused by the local SQS and logged; dead letters go to the local DLQ.

Exit status: 0 when the handler answered, 1 when it raised, timed out or crashed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local.aws import template_model
from local.aws.queues import read_dead_letters
from local.aws.runtime import ExecutionEnvironment, InvokeResult
from local.aws.stack import local_aws
from local.run_args import LOCAL_TOKEN, REPO_ROOT, CliParser, parameter_pairs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The CLI (`make invoke EVENT=...`); a bad value exits 2 with one line, before anything starts."""
    parser = CliParser(
        prog="make invoke", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("event", type=Path, help="a Lambda SQS event file (events/*.json)")
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override, as at deploy time (e.g. LogLevel=DEBUG)",
    )
    args = parser.parse_args(argv)
    try:
        args.payload = load_event(args.event)
        args.parameters = parameter_pairs(args.parameter, "--parameter")
        template_model.deployment_settings(args.template, args.parameters or None)
    except KeyError as exc:
        parser.error(f"--parameter: {exc.args[0]}")
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    return args


def load_event(path: Path) -> dict[str, Any]:
    """The event file as the handler receives it; refused unless it is an SQS event with records."""
    try:
        event: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path} is not a Lambda SQS event (no Records)")
    if any(not isinstance(r, dict) or r.get("eventSource") != "aws:sqs" for r in records):
        raise ValueError(f"{path}: every record must be an SQS record (eventSource aws:sqs)")
    return dict(event)


def invoke(args: argparse.Namespace) -> tuple[InvokeResult, int]:
    """Stand up the stack, invoke the handler once with the event, stop everything: (the result, how
    many messages the function put in the DLQ)."""
    from local.hubspot_emulator import EmulatorConfig, running_emulator

    with (
        tempfile.TemporaryDirectory(prefix="make-invoke-") as logs,
        local_aws(Path(logs)) as aws,
        running_emulator(EmulatorConfig(), tokens=[LOCAL_TOKEN]) as emulator,
    ):
        overrides = {**args.parameters, "HubSpotApiBaseUrl": emulator.base_url}
        deployment = aws.provision(args.template, token=LOCAL_TOKEN, overrides=overrides)
        environment = ExecutionEnvironment(deployment.function_spec(0), name="invoke")
        try:
            environment.start()
            result = environment.invoke(args.payload)
        finally:
            environment.close()
        letters = read_dead_letters(aws.client("sqs"), deployment.provisioned.dead_letter_queue.url)
        return result, len(letters.ids)


def report(result: InvokeResult, dead_lettered: int) -> str:
    """The function's log lines, then its answer (or Lambda's error document)."""
    lines = [f"function log ({len(result.log_lines)} lines):", *(f"  {line}" for line in result.log_lines)]
    lines.append(
        f"invocation: {result.status}, {result.duration_ms:.0f} ms, "
        f"{dead_lettered} message(s) in the local DLQ"
    )
    if result.status == "ok":
        lines += ["partial batch response:", json.dumps(result.payload, indent=2)]
    else:
        lines += ["error:", json.dumps(result.error, indent=2)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m local.invoke` (`make invoke`)."""
    args = parse_args(argv)
    result, dead_lettered = invoke(args)
    sys.stdout.write(report(result, dead_lettered) + "\n")
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
