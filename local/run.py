"""`make run`: the whole pipeline on loopback - moto (SQS, Secrets Manager, DynamoDB), the HubSpot
emulator, the real handler in per-slot worker processes fed by a local SQS event source - then a
summary and checks. The command line, its flags and exit statuses: local/run_args.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from local.aws import template_model
from local.aws.event_source import SqsEventSource
from local.aws.provision import Provisioned
from local.aws.stack import (
    CLOSED_PORT,
    DUMMY_CREDENTIALS,
    REGION,
    LocalAws,
    endpoint_variables,
    guard_environment,
    local_aws,
)
from local.run_args import LOCAL_TOKEN, parse_args
from local.workload.actors import ActorRun
from local.workload.checks import verify_run
from local.workload.drive import Pipeline, forward_receive, start_sources, stop_all, wait_for_drain
from local.workload.feeder import Feeder
from local.workload.plan import Plan, make_plan
from local.workload.progress import Progress
from local.workload.summary import Summary, print_summary
from local.workload.tally import RunTally
from local.workload.verify import StatusLookup, emulator_lookup, hubspot_api_lookup
from local.workload.waiting import PostponementLog, Waiting


class Interrupted(Exception):
    """SIGTERM (or SIGINT) arrived: stop everything and report what is known."""


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into an exception in the main thread, so every finally block runs."""

    fired = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired.is_set():  # a second Ctrl-C must not cut the cleanup short; every step has a timeout
            sys.stderr.write("\nstill stopping everything this run started...\n")
            return
        fired.set()
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _confirm_real(args: argparse.Namespace, base_url: str, messages: int) -> None:
    warning = (
        f"\n*** --real-hubspot: this run WRITES REAL subscription statuses to the portal behind {base_url} ***\n"
        f"    {messages} updates for addresses @{args.email_domain}, subscription ids {args.subscription_ids}.\n"
        "    AWS stays local (moto); only the HubSpot calls leave this machine.\n"
    )
    sys.stderr.write(warning)
    if args.yes:
        return
    sys.stderr.write("Type 'yes' to continue: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() != "yes":
        raise SystemExit("not confirmed; nothing was sent")


@dataclass
class Kept:
    """What --keep leaves running after the run: its cleanup, and how to reach it."""

    stack: contextlib.ExitStack
    lines: list[str]


def run(args: argparse.Namespace) -> tuple[Summary, Kept | None]:
    """Start everything, send, drain, verify; stop everything whatever happens (also on Ctrl-C, when
    the summary carries what was known at that point), except what --keep leaves running (returned,
    for the caller to stop)."""
    from local.hubspot_emulator import EmulatorConfig

    started = time.monotonic()
    emulator_config = EmulatorConfig()
    portal = {sub_id: sub.business_unit_id for sub_id, sub in emulator_config.definitions.items()}
    plan = make_plan(args, portal)
    summary = Summary(
        concurrency=plan.concurrency,
        shards=plan.shards,
        faults="n/a" if args.real_hubspot else args.faults,
        target="real HubSpot" if args.real_hubspot else "emulator",
    )
    logs_dir = args.logs or Path(tempfile.mkdtemp(prefix="make-run-logs-"))
    logs_dir.mkdir(parents=True, exist_ok=True)
    guard_environment(CLOSED_PORT)  # until moto is up, a stray AWS call hits a closed port
    tally = RunTally()
    pipeline = Pipeline()
    kept = None
    try:
        kept = _run_pipeline(
            args,
            plan=plan,
            summary=summary,
            tally=tally,
            pipeline=pipeline,
            logs_dir=logs_dir,
            emulator_config=emulator_config,
        )
    except Interrupted as exc:
        summary.interrupted = True
        summary.problems.append(f"interrupted ({exc})")
        _partial_figures(summary, tally, pipeline)
    summary.wall_s = round(time.monotonic() - started, 2)
    summary.messages_per_s = round(summary.sent / summary.drain_s, 1) if summary.drain_s else 0.0
    sys.stdout.write(f"\nlogs: {logs_dir}\n")
    if summary.ok and args.logs is None and kept is None:
        shutil.rmtree(logs_dir, ignore_errors=True)
        sys.stdout.write("(removed: the run passed; pass --logs DIR to keep them)\n")
    return summary, kept


def _partial_figures(summary: Summary, tally: RunTally, pipeline: Pipeline) -> None:
    """What an interrupted run knows without the final checks."""
    summary.sent = pipeline.feeder.sent if pipeline.feeder else 0
    summary.applied = tally.applied
    summary.superseded = tally.superseded
    summary.dead_lettered = tally.handler_dead_lettered
    summary.retried = tally.retried
    summary.invocations = tally.invocations
    summary.failed_invocations = tally.failed_invocations
    summary.hubspot_calls = tally.hubspot_calls
    summary.hubspot_429s = tally.hubspot_throttled


def _run_pipeline(
    args: argparse.Namespace,
    *,
    plan: Plan,
    summary: Summary,
    tally: RunTally,
    pipeline: Pipeline,
    logs_dir: Path,
    emulator_config: Any,
) -> Kept | None:
    from local.hubspot_emulator.remote import act

    with contextlib.ExitStack() as stack:
        visibility_log = logs_dir / "visibility.jsonl"
        aws = stack.enter_context(
            local_aws(logs_dir, pristine=args.pristine_moto, visibility_log=visibility_log)
        )
        overrides = dict(args.parameters)
        emulator = None
        portal_tokens = {portal: f"{LOCAL_TOKEN}-{portal}" for portal in plan.portals}
        if args.real_hubspot:
            token, lookup = _real_hubspot(args, overrides, len(plan.workload))
        else:
            token = portal_tokens[plan.portals[0]] if plan.portals else LOCAL_TOKEN
            emulator = stack.enter_context(_emulator(emulator_config, args, portal_tokens))
            overrides["HubSpotApiBaseUrl"] = emulator.base_url
            lookup = emulator_lookup(emulator)
        deployment = aws.provision(
            args.template,
            token=token,
            shards=plan.shards,
            overrides=overrides,
            portal_tokens=portal_tokens or None,
        )
        provisioned = deployment.provisioned
        _describe(plan, deployment.settings, provisioned.notes, args, logs_dir)
        stack.callback(stop_all, pipeline)
        postponements = PostponementLog(visibility_log, {queue.name for queue in provisioned.queues})
        backoff_max_s = float(  # the function's backoff cap: a longer postponement is a DAILY park
            deployment.function_spec(0, overrides=args.env_overrides).environment["RETRY_BACKOFF_MAX_SECONDS"]
        )

        def waiting() -> Waiting:
            return postponements.waiting(tally.settled(), backoff_max_s)

        for shard in range(plan.shards):
            spec = deployment.function_spec(shard, overrides=args.env_overrides)
            pipeline.sources.append(
                deployment.event_source(
                    shard,
                    spec,
                    slots=plan.slots_per_shard[shard],
                    poll_wait_s=args.poll_wait,
                    log_dir=logs_dir,
                    on_receive=forward_receive(pipeline, shard, tally),
                    on_invocation=tally.record,
                )
            )
        start_sources(pipeline.sources)
        init_done = time.monotonic()
        feeder = pipeline.feeder = Feeder(
            queue_urls=[q.url for q in provisioned.queues],
            workload=plan.workload,
            sqs_client=lambda: aws.client("sqs"),
            high_water=plan.high_water,
        )
        total = len(plan.workload)
        base_url = emulator.base_url if emulator is not None else ""
        hubspot_side = ActorRun(
            plan.actors,
            lambda body: act(base_url, body),
            lambda body, portal: act(base_url, body, portal=portal),
        )
        hubspot_side.before_feed()  # changes made in HubSpot while the messages were queued
        if not args.quiet:
            pipeline.progress = Progress(
                lambda: _progress_status(tally, feeder, pipeline.sources, total, waiting())
            )
            pipeline.progress.start()
        feeder.start()
        hubspot_side.start(lambda: feeder.sent / max(1, total))
        sqs = aws.client("sqs")
        drained = wait_for_drain(
            sqs,
            provisioned,
            feeder,
            pipeline.sources,
            args.drain_timeout,
            parked=lambda: len(waiting().parked),
        )
        hubspot_side.stop()
        summary.drain_s = round(time.monotonic() - init_done, 2)
        if pipeline.progress:
            pipeline.progress.stop()
            pipeline.progress = None
        for source in pipeline.sources:
            source.stop()
        verify_run(
            summary,
            plan=plan,
            tally=tally,
            feeder=feeder,
            sqs=sqs,
            provisioned=provisioned,
            lookup=lookup,
            emulator=emulator,
            sources=pipeline.sources,
            drained=drained,
            strict_order=not args.tolerate_reordering,
            logs_dir=logs_dir,
            waiting=waiting(),
            actors=hubspot_side,
            portal_tokens=portal_tokens or None,
        )
        if not args.keep:
            return None
        return Kept(stack.pop_all(), _reach(aws, provisioned, emulator, token, portal_tokens))


def _emulator(config: Any, args: argparse.Namespace, portal_tokens: dict[int, str]) -> Any:
    """The emulator of the run: one portal holding LOCAL_TOKEN, or one portal per `--portals` with a
    token each (docs/emulator.md, Several portals), each keeping its whole request log for the checks."""
    from local.hubspot_emulator import PortalSpec, profile, running_emulator

    if not portal_tokens:
        return running_emulator(config, tokens=[LOCAL_TOKEN], faults=profile(args.faults))
    specs = [PortalSpec(portal, (token,)) for portal, token in portal_tokens.items()]
    config = config.replace(request_log_limit=max(config.request_log_limit, 1_000_000))
    return running_emulator(config, faults=profile(args.faults), portals=specs)


def _reach(
    aws: LocalAws, provisioned: Provisioned, emulator: Any, token: str, portal_tokens: dict[int, str]
) -> list[str]:
    """How to reach what --keep leaves running: the environment to export, the queues, the emulator."""
    variables = {
        **endpoint_variables(aws.endpoints),
        "AWS_DEFAULT_REGION": REGION,
        **DUMMY_CREDENTIALS,
    }
    lines = [
        "",
        "Kept running (--keep): moto" + (" and the HubSpot emulator" if emulator else "") + ".",
        "Use them from another shell with:",
        *(f"  export {name}={value}" for name, value in variables.items()),
        *(f"  queue:  {queue.url}" for queue in provisioned.queues),
        f"  DLQ:    {provisioned.dead_letter_queue.url}",
    ]
    if emulator is not None and portal_tokens:
        lines.append(f"  HubSpot emulator: {emulator.base_url}, control API per portal with ?portal=ID")
        lines += [f"    portal {portal}: token {value}" for portal, value in portal_tokens.items()]
    elif emulator is not None:
        lines.append(f"  HubSpot emulator: {emulator.base_url} (token {token})")
    lines += [
        f'  e.g.    make dlq ARGS="list --dlq-url {provisioned.dead_letter_queue.url}"',
        "Ctrl-C stops everything.",
    ]
    return lines


def hold(kept: Kept) -> None:
    """Print how to reach what --keep left running and wait for Ctrl-C (or SIGTERM)."""
    sys.stdout.write("\n".join(kept.lines) + "\n")
    sys.stdout.flush()
    try:
        with _signals_raise():
            while True:
                time.sleep(3600)
    except Interrupted:
        sys.stdout.write("stopping what --keep left running...\n")
        sys.stdout.flush()


def _real_hubspot(
    args: argparse.Namespace, overrides: dict[str, str], messages: int
) -> tuple[str, StatusLookup]:
    """The token and the state lookup of a --real-hubspot run, once the user confirmed it."""
    token = os.environ.get(args.token_env, "")
    if not token:
        raise SystemExit(f"--real-hubspot: ${args.token_env} is empty")
    if args.hubspot_url:
        overrides["HubSpotApiBaseUrl"] = args.hubspot_url
    base_url = template_model.deployment_settings(args.template, overrides).environment.get(
        "HUBSPOT_API_BASE_URL", "https://api.hubapi.com"
    )
    _confirm_real(args, base_url, messages)
    return token, hubspot_api_lookup(base_url, token)


def _progress_status(
    tally: RunTally, feeder: Feeder, sources: Sequence[SqsEventSource], total: int, waiting: Waiting
) -> tuple[int, int, str]:
    """The progress line: what is done, and what the run waits for (backoff, 429s, parked messages)."""
    snap = tally.snapshot()
    busy = sum(source.busy_slots for source in sources)
    extra = (
        f"sent {feeder.sent}  invocations {snap['invocations']} ({busy} running)  "
        f"retried {snap['retried']}  429s {snap['throttled']}"
    )
    if snap["failed_invocations"]:
        extra += f"  failed {snap['failed_invocations']}"
    waits = waiting.describe(time.time())
    if waits:
        extra += f"  | waiting: {waits}"
    return snap["deleted"], total, extra


def _describe(
    plan: Plan,
    settings: template_model.DeploymentSettings,
    notes: list[str],
    args: argparse.Namespace,
    logs_dir: Path,
) -> None:
    s = settings
    lines = [
        f"template: BatchSize {s.batch_size}, window {s.batching_window_s} s, MaximumConcurrency "
        f"{s.maximum_concurrency}, maxReceiveCount {s.max_receive_count}, visibility {s.visibility_timeout_s} s, "
        f"timeout {s.function_timeout_s} s, memory {s.memory_mb} MB, handler {s.handler}",
        f"local:    {plan.concurrency} slot(s) over {plan.shards} queue shard(s) {plan.slots_per_shard}, "
        f"long-poll {args.poll_wait} s, sender high-water "
        f"{'preload' if plan.high_water is None else plan.high_water}; {len(plan.workload)} messages",
    ]
    lines += [f"note:     {note}" for note in plan.notes + notes]
    if args.env_overrides:
        lines.append(f"note:     environment overridden (not as deployed): {sorted(args.env_overrides)}")
    lines.append(f"logs:     {logs_dir}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m local.run`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--dry-run" in arguments:  # check the portal, write nothing (local/preflight.py)
        from local.preflight import main as preflight

        return preflight(arguments)
    args = parse_args(arguments)
    kept = None
    try:
        with _signals_raise():
            summary, kept = run(args)
    except Interrupted as exc:  # before the pipeline started: nothing to report yet
        summary = Summary(interrupted=True, problems=[f"interrupted ({exc})"])
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:  # everything was stopped on the way out; say what broke, keep the contract
        traceback.print_exc()
        summary = Summary(problems=[f"{type(exc).__name__}: {exc}"])
    print_summary(summary, sys.stdout)
    if kept is not None:
        with kept.stack:
            hold(kept)
    if summary.interrupted:
        return 130
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
