"""`make run`: the whole pipeline on loopback - moto (SQS, Secrets Manager), the HubSpot emulator, the
real handler in per-slot worker processes fed by a local SQS event source - then a summary and checks.

    make run                                  # events/*.json + 3,000 generated updates
    make run ARGS="--messages 500 --faults throttled"
    make run ARGS="--parameter BatchSize=10 --parameter MaximumBatchingWindowInSeconds=0"
    make run ARGS="--real-hubspot --token-env HUBSPOT_TOKEN --subscription-ids 123,456"

Every setting the deployed stack has (batch size, batching window, MaximumConcurrency, maxReceiveCount,
visibility timeout, function timeout, memory, environment) is read from template.yaml. Without
--real-hubspot nothing leaves 127.0.0.1. Exit status: 0 when every check passed, 1 when something was
lost or a check failed, 2 for bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from local import template_model
from local.event_source import EventSourceMapping, SqsEventSource, default_sqs_client
from local.feeder import Feeder
from local.lambda_runtime import FunctionSpec
from local.moto_server import MotoServer
from local.progress import Progress
from local.provision import Provisioned, provision, resolve_environment
from local.summary import Summary, print_summary
from local.tally import RunTally
from local.verify import (
    StatusLookup,
    check_state,
    emulator_lookup,
    hubspot_api_lookup,
    key_history,
    lost_messages,
    queue_depth,
    read_dead_letters,
    unexpected_dead_letters,
)
from local.workload import Workload, combine, from_event_files, generate

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
LOCAL_TOKEN = "pat-local-run"  # noqa: S105 - the emulator's own token, loopback only
DEFAULT_MESSAGES = 3000
DEFAULT_REAL_MESSAGES = 20
MAX_SHARDS = 10
ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_DYNAMODB",
)  # a byQueue RedriveAllowPolicy lists at most 10 source queues


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The CLI (`make run ARGS="..."`)."""
    parser = argparse.ArgumentParser(
        prog="make run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _workload_arguments(parser.add_argument_group("workload"))
    _pipeline_arguments(parser.add_argument_group("pipeline"))
    _real_hubspot_arguments(parser.add_argument_group("real HubSpot (opt-in: writes real statuses)"))
    args = parser.parse_args(argv)
    try:
        _check_arguments(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _workload_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--messages", type=int, help=f"generated updates (default {DEFAULT_MESSAGES})")
    group.add_argument("--events", default="events/*.json", help="SQS event files whose bodies are sent too")
    group.add_argument("--no-events", action="store_true", help="send only the generated updates")
    group.add_argument("--seed", type=int, default=1, help="workload seed (same seed, same messages)")
    group.add_argument("--email-domain", default="example.com", help="domain of generated addresses")
    group.add_argument("--subscription-ids", help="comma-separated ids to write (default: the emulator's)")


def _pipeline_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    group.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override, as at deploy time (e.g. BatchSize=10, LogLevel=DEBUG)",
    )
    group.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a function environment variable (deviates from the template; shown in the output)",
    )
    group.add_argument("--faults", default="none", help="emulator fault profile: none, flaky, throttled, ...")
    group.add_argument("--concurrency", type=int, help="concurrent invocations (default: MaximumConcurrency)")
    group.add_argument(
        "--shards", type=int, default=1, help="identical source queues sharing the slots (max 10)"
    )
    group.add_argument("--poll-wait", type=int, default=1, help="ReceiveMessage WaitTimeSeconds (Lambda: 20)")
    group.add_argument(
        "--high-water", type=int, help="per-shard backlog the sender keeps (default 2 x BatchSize)"
    )
    group.add_argument(
        "--preload", action="store_true", help="send everything before draining (slow on moto)"
    )
    group.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait for the queue to empty"
    )
    group.add_argument(
        "--tolerate-reordering",
        action="store_true",
        help=(
            "only warn when a key ends at an older update that a batch without the newest one wrote last "
            "(the function's ordering ledger promises this never happens, so by default it fails the run)"
        ),
    )
    group.add_argument(
        "--pristine-moto",
        action="store_true",
        help="run moto without local.moto_server.speed_up_sqs (slower)",
    )
    group.add_argument("--logs", type=Path, help="keep worker and moto logs in this directory")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _real_hubspot_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--real-hubspot", action="store_true", help="call a real HubSpot portal, not the emulator"
    )
    group.add_argument("--token-env", default="HUBSPOT_TOKEN", help="environment variable holding the token")
    group.add_argument("--hubspot-url", help="API base URL (default: the template's HubSpotApiBaseUrl)")
    group.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _check_arguments(args: argparse.Namespace) -> None:
    """Range checks argparse cannot express; adds parsed `parameters`, `env_overrides`, `subscription_id_list`."""
    for name in ("messages", "concurrency", "shards", "high_water"):
        value = getattr(args, name)
        minimum = 0 if name == "messages" else 1
        if value is not None and value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {minimum}")
    if args.shards > MAX_SHARDS:
        raise ValueError(f"--shards is at most {MAX_SHARDS}")
    if not 0 <= args.poll_wait <= 20:
        raise ValueError("--poll-wait must be within 0..20")
    args.parameters = _pairs(args.parameter, "--parameter")
    args.env_overrides = _pairs(args.env, "--env")
    args.subscription_id_list = None
    if args.subscription_ids:
        try:
            args.subscription_id_list = tuple(int(s) for s in args.subscription_ids.split(",") if s.strip())
        except ValueError:
            raise ValueError("--subscription-ids takes comma-separated integers") from None
    elif args.real_hubspot:
        raise ValueError(
            "--real-hubspot needs --subscription-ids (the ids of your portal's subscription types)"
        )


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise ValueError(f"{flag} takes NAME=VALUE, got {value!r}")
        pairs[name] = text
    return pairs


# --------------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What this run will do, decided before anything starts."""

    settings: template_model.DeploymentSettings
    concurrency: int
    shards: int
    slots_per_shard: list[int]
    workload: Workload
    portal: dict[int, int]
    high_water: int | None
    notes: list[str] = field(default_factory=list)


def make_plan(args: argparse.Namespace, portal: Mapping[int, int]) -> Plan:
    """Resolve the template, the slot layout and the workload. `portal` maps the portal's subscription
    ids to their brand (the emulator's definitions; for a real portal, --subscription-ids in brand 0)."""
    settings = template_model.deployment_settings(path=args.template, overrides=args.parameters or None)
    concurrency = args.concurrency or settings.maximum_concurrency
    shards = min(args.shards, concurrency)
    slots = [concurrency // shards + (1 if shard < concurrency % shards else 0) for shard in range(shards)]
    if args.subscription_id_list:
        portal = dict.fromkeys(args.subscription_id_list, 0)
        ids = tuple(args.subscription_id_list)
    else:
        ids = tuple(sorted(i for i, brand in portal.items() if brand == 0))
    default_messages = DEFAULT_REAL_MESSAGES if args.real_hubspot else DEFAULT_MESSAGES
    messages = default_messages if args.messages is None else args.messages
    generated = generate(
        messages, seed=args.seed, subscription_ids=ids, subscriptions=portal, domain=args.email_domain
    )
    parts = [generated]
    if not args.no_events and not args.real_hubspot:
        paths = (
            sorted(REPO_ROOT.glob(args.events))
            if not Path(args.events).is_absolute()
            else sorted(Path(args.events).parent.glob(Path(args.events).name))
        )
        parts.insert(0, from_event_files(paths, portal))
    workload = combine(*parts)
    high_water = None if args.preload else (args.high_water or max(20, 2 * settings.batch_size))
    notes = []
    if concurrency != settings.maximum_concurrency:
        notes.append(
            f"concurrency {concurrency} (template MaximumConcurrency {settings.maximum_concurrency})"
        )
    if shards > 1:
        notes.append(f"{shards} identical source queues share the DLQ (moto is O(queue length) per call)")
    return Plan(settings, concurrency, shards, slots, workload, dict(portal), high_water, notes)


# --------------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------------


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


def guard_environment(endpoint: str) -> None:
    """Every AWS client this process builds goes to moto, with dummy credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - moto's dummy credentials
    os.environ["AWS_DEFAULT_REGION"] = REGION
    for name in ENDPOINT_VARIABLES:
        os.environ[name] = endpoint
    os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)


def function_environment(
    settings: template_model.DeploymentSettings,
    provisioned: Provisioned,
    shard: int,
    moto_endpoint: str,
    overrides: dict[str, str],
) -> dict[str, str]:
    env = resolve_environment(settings.environment, provisioned.placeholders(shard))
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **dict.fromkeys(ENDPOINT_VARIABLES, moto_endpoint),
        }
    )
    env.update(overrides)
    return env


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
class Pipeline:
    """The running pieces, so the final report and the cleanup can reach them."""

    sources: list[SqsEventSource] = field(default_factory=list)
    feeder: Feeder | None = None
    progress: Progress | None = None


def run(args: argparse.Namespace) -> Summary:
    """Start everything, send, drain, verify; stop everything whatever happens (also on Ctrl-C, when
    the summary carries what was known at that point)."""
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
    guard_environment("http://127.0.0.1:9")  # until moto is up, a stray AWS call hits a closed port
    tally = RunTally()
    pipeline = Pipeline()
    try:
        _run_pipeline(
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
    if summary.ok and args.logs is None:
        shutil.rmtree(logs_dir, ignore_errors=True)
        sys.stdout.write("(removed: the run passed; pass --logs DIR to keep them)\n")
    return summary


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
) -> None:
    from local.hubspot_emulator import profile, running_emulator

    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(MotoServer(log_file=logs_dir / "moto.log", pristine=args.pristine_moto))
        guard_environment(moto.endpoint)
        overrides = dict(args.parameters)
        emulator = None
        if args.real_hubspot:
            token = os.environ.get(args.token_env, "")
            if not token:
                raise SystemExit(f"--real-hubspot: ${args.token_env} is empty")
            if args.hubspot_url:
                overrides["HubSpotApiBaseUrl"] = args.hubspot_url
            base_url = template_model.deployment_settings(args.template, overrides).environment.get(
                "HUBSPOT_API_BASE_URL", "https://api.hubapi.com"
            )
            _confirm_real(args, base_url, len(plan.workload))
            lookup: StatusLookup = hubspot_api_lookup(base_url, token)
        else:
            token = LOCAL_TOKEN
            emulator = stack.enter_context(
                running_emulator(emulator_config, tokens=[token], faults=profile(args.faults))
            )
            overrides["HubSpotApiBaseUrl"] = emulator.base_url
            lookup = emulator_lookup(emulator)
        settings = template_model.deployment_settings(args.template, overrides)
        sqs = default_sqs_client(REGION, moto.endpoint)
        secrets = aws_client("secretsmanager", moto.endpoint)
        provisioned = provision(
            sqs,
            secrets,
            args.template,
            token=token,
            shards=plan.shards,
            overrides=overrides,
            dynamodb=aws_client("dynamodb", moto.endpoint),
        )
        _describe(plan, settings, provisioned, args, logs_dir)
        stack.callback(stop_all, pipeline)
        for shard, queue in enumerate(provisioned.queues):
            spec = FunctionSpec(
                handler=settings.handler,
                code_uri=REPO_ROOT / settings.code_uri,
                timeout_s=settings.function_timeout_s,
                memory_mb=settings.memory_mb,
                function_name="local-status-writer",
                environment=function_environment(
                    settings, provisioned, shard, moto.endpoint, args.env_overrides
                ),
                region=REGION,
            )
            mapping = EventSourceMapping(
                queue_url=queue.url,
                queue_arn=queue.arn,
                batch_size=settings.batch_size,
                batching_window_s=settings.batching_window_s,
                maximum_concurrency=plan.slots_per_shard[shard],
                region=REGION,
                poll_wait_s=args.poll_wait,
            )
            pipeline.sources.append(
                SqsEventSource(
                    mapping,
                    spec,
                    sqs_client=lambda: default_sqs_client(REGION, moto.endpoint),
                    log_dir=logs_dir,
                    on_receive=forward_receive(pipeline, shard),
                    on_invocation=tally.record,
                    name=f"shard{shard}",
                )
            )
        start_sources(pipeline.sources)
        init_done = time.monotonic()
        pipeline.feeder = Feeder(
            queue_urls=[q.url for q in provisioned.queues],
            workload=plan.workload,
            sqs_client=lambda: default_sqs_client(REGION, moto.endpoint),
            high_water=plan.high_water,
        )
        total = len(plan.workload)
        feeder = pipeline.feeder
        if not args.quiet:
            pipeline.progress = Progress(lambda: _progress_status(tally, feeder, pipeline.sources, total))
            pipeline.progress.start()
        feeder.start()
        drained = wait_for_drain(sqs, provisioned, feeder, pipeline.sources, args.drain_timeout)
        drain_s = time.monotonic() - init_done
        if pipeline.progress:
            pipeline.progress.stop()
            pipeline.progress = None
        for source in pipeline.sources:
            source.stop()
        summary.drain_s = round(drain_s, 2)
        _verify(
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
        )


def aws_client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def forward_receive(pipeline: Pipeline, shard: int) -> Any:
    def forward(slot: int, records: list[dict[str, Any]]) -> None:
        if pipeline.feeder is not None:
            pipeline.feeder.note_received(shard, records)

    return forward


def start_sources(sources: Sequence[SqsEventSource]) -> None:
    """Init every execution environment at once (imports run in parallel), then start polling."""
    errors: list[BaseException] = []

    def init(source: SqsEventSource) -> None:
        try:
            source.start_environments()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=init, args=(source,), daemon=True) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for source in sources:
        source.start()  # environments are already warm: start() only starts the slot threads


def stop_all(pipeline: Pipeline) -> None:
    """Cleanup on any exit: progress line, sender, pollers and their worker processes."""
    if pipeline.progress:
        pipeline.progress.stop()
    if pipeline.feeder:
        pipeline.feeder.stop()
    for source in pipeline.sources:
        source.abort()


def _progress_status(
    tally: RunTally, feeder: Feeder, sources: Sequence[SqsEventSource], total: int
) -> tuple[int, int, str]:
    snap = tally.snapshot()
    busy = sum(source.busy_slots for source in sources)
    extra = (
        f"sent {feeder.sent}  invocations {snap['invocations']} ({busy} running)  "
        f"retried {snap['retried']}  429s {snap['throttled']}"
    )
    if snap["failed_invocations"]:
        extra += f"  failed {snap['failed_invocations']}"
    return snap["deleted"], total, extra


def wait_for_drain(
    sqs: Any,
    provisioned: Provisioned,
    feeder: Feeder,
    sources: Sequence[SqsEventSource],
    timeout_s: float,
) -> bool:
    """True once everything is sent and every shard is empty (visible + not visible + delayed = 0)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if feeder.done and not any(source.busy_slots for source in sources):
            if all(queue_depth(sqs, queue.url) == 0 for queue in provisioned.queues):
                return True
            time.sleep(1.0)
        else:
            time.sleep(0.2)
    return False


def _verify(
    summary: Summary,
    *,
    plan: Plan,
    tally: RunTally,
    feeder: Feeder,
    sqs: Any,
    provisioned: Provisioned,
    lookup: StatusLookup,
    emulator: Any,
    sources: Sequence[SqsEventSource],
    drained: bool,
    strict_order: bool,
    logs_dir: Path,
) -> None:
    items = plan.workload.items
    sent_items = [item for item in items if item.message_id]
    letters = read_dead_letters(sqs, provisioned.dead_letter_queue.url)
    lost = lost_messages(sent_items, tally.deleted_ids, letters)
    checked, mismatches = check_state(sent_items, lookup, tally.windows, letters.ids)
    summary.sent = feeder.sent
    summary.send_errors = len(feeder.send_errors)
    summary.applied = tally.applied
    summary.superseded = tally.superseded
    summary.dead_lettered = len(letters.ids)
    summary.dead_lettered_by_reason = letters.by_reason()
    summary.expected_dead_lettered = sum(1 for i in sent_items if i.expectation.outcome == "dead_letter")
    summary.unexpected_dead_letters = len(unexpected_dead_letters(sent_items, letters))
    summary.retried = tally.retried
    summary.invocations = tally.invocations
    summary.failed_invocations = tally.failed_invocations
    summary.hubspot_calls = tally.hubspot_calls
    summary.hubspot_429s = tally.hubspot_throttled
    summary.poll_errors = sum(len(source.poll_errors) for source in sources)
    if emulator is not None:
        summary.emulator_requests = int(emulator.counters().get("total", 0))
    summary.in_flight = sum(queue_depth(sqs, queue.url) for queue in provisioned.queues)
    summary.lost_unsettled = len(lost["unsettled"])
    summary.lost_missing_dead_letter = len(lost["missing_dead_letter"])
    summary.lost = summary.lost_unsettled + summary.lost_missing_dead_letter
    bodies = {item.message_id: item.body for item in sent_items}
    summary.lost_samples = [
        {"message_id": message_id, "why": why, "body": bodies[message_id][:120]}
        for why, ids in lost.items()
        for message_id in ids[:5]
    ][:5]
    summary.state_keys_checked = checked
    summary.state_mismatches = len(mismatches)
    summary.stale_overwrites = sum(1 for m in mismatches if m.stale_overwrite)
    summary.mismatch_samples = [m.to_dict() for m in mismatches[:5]]
    if mismatches:  # the full story of each key, for whoever investigates
        histories = [key_history(m.key, sent_items, lookup, tally.windows, letters.ids) for m in mismatches]
        (logs_dir / "state_mismatches.json").write_text(json.dumps(histories, indent=1, default=str))
    _judge(summary, drained=drained, strict_order=strict_order)
    if tally.missing_batch_logs:
        sys.stdout.write(f"note: {tally.missing_batch_logs} invocations logged no 'batch processed' line\n")
    for sample in tally.failure_samples:
        sys.stdout.write(f"note: a batch failed as a whole: {sample}\n")


def _judge(summary: Summary, *, drained: bool, strict_order: bool) -> None:
    """Turn the figures into problems (the run fails) and warnings (it does not)."""
    problems = summary.problems
    if not drained:
        problems.append("the queue did not drain within --drain-timeout")
    if summary.send_errors:
        problems.append(f"{summary.send_errors} send errors")
    if summary.in_flight:
        problems.append(f"{summary.in_flight} messages left in flight")
    if summary.lost:
        problems.append(f"{summary.lost} messages lost")
    wrong = summary.state_mismatches - summary.stale_overwrites
    if wrong:
        problems.append(f"{wrong} keys hold a status no batch's newest update explains")
    if summary.stale_overwrites:
        message = (
            f"{summary.stale_overwrites} keys ended at an older update: a batch without the newest update "
            "wrote after the batch with it (delivery order the function did not undo)"
        )
        (problems if strict_order else summary.warnings).append(message)


def _describe(
    plan: Plan,
    settings: template_model.DeploymentSettings,
    provisioned: Provisioned,
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
    lines += [f"note:     {note}" for note in plan.notes + provisioned.notes]
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
    try:
        with _signals_raise():
            summary = run(args)
    except Interrupted as exc:  # before the pipeline started: nothing to report yet
        summary = Summary(interrupted=True, problems=[f"interrupted ({exc})"])
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:  # everything was stopped on the way out; say what broke, keep the contract
        traceback.print_exc()
        summary = Summary(problems=[f"{type(exc).__name__}: {exc}"])
    print_summary(summary, sys.stdout)
    if summary.interrupted:
        return 130
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
