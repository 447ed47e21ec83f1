"""`make chaos`: the local pipeline under a fault schedule, with invariants checked at the end.

    make chaos                                   # the full suite (10,000 messages, about 5 minutes)
    make chaos ARGS="--profile small"            # what `make test` runs (tests/local/test_chaos.py)
    make chaos ARGS="--messages 20000 --seed 7"  # bigger, another workload and fault draw
    make chaos ARGS="--portals 3"                # three portals, one secret each (local.chaos.portals)

The pipeline is `make run`'s: moto SQS with the template's queue, DLQ and redrive policy, the local SQS
event source with one warm worker process per slot, the real handler, the HubSpot emulator. On top:

- every HubSpot call goes through the hostile kit (local.hostile) with the emulator as upstream;
- a schedule thread cycles through fault windows (set_faults on the emulator): 429 bursts
  (ten-secondly) and a DAILY window, hangs past the client's read timeout, whole-batch 400s, batch
  `status: PROCESSING`, per-item errors with an empty context, hostile answers (local.chaos.hostile:
  non-batch, empty, null or truncated 2xx, proxy HTML pages, redirects, trickles, resets, hangs, huge
  bodies), the portal losing its batch scopes (403 MISSING_SCOPES; the function goes per contact), a
  token revoked in the emulator then a new one added and put into the secret (401s in between), and a
  DLQ outage (the DLQ queue deleted for a window and recreated with the same name and attributes);
- under every window, background faults at random: 5xx, dropped connections, ten-secondly 429s, latency;
- per invocation, at a rate: the worker SIGKILLed mid-batch, or a context with almost no time left;
- the workload (local.chaos.workload): invalid bodies, poison bodies (lone surrogates, bidi overrides,
  C1 controls, far-future or date-only occurredAt, duplicate keys, extreme numbers), subscription
  999999, unsubscribe-alls, duplicates within and across batches, older updates sent after newer ones.

Workers set up logging as the Lambda runtime does (local.chaos.lambda_logging), so
`--parameter LogLevel=DEBUG` writes every DEBUG line, and invariant 4 scans them.

With `--portals N` (N > 1) the run is `make run --portals N`'s layout (contacts spread over N portals,
one secret each, the function in multi-portal mode: README, Many portals). Every window above hits every
portal; on top, one portal's token is revoked for a window of every cycle and rotated into its secret at
the end, and another portal has a tenth of the others' rate limit (local.chaos.portals, portal_faults).

Invariants (each a hard failure, exit 1): final state = newest update per key (per portal, in its own
state); every invalid message in the DLQ with a reason and no valid one there; nothing left in flight
and every message in exactly one final outcome; no token and no raw email in any worker log line; no
invocation timed out or raised, and no crash except the injected kills; with several portals, each
portal's calls carry only its own tokens and name only its contacts, and the other portals are applied
while one's token is revoked. The last stdout line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local.aws.event_source import SqsEventSource
from local.aws.queues import DeadLetters, read_dead_letters
from local.aws.stack import local_aws
from local.chaos.cli import (
    ENV_OVERRIDES,
    FUNCTION_TIMEOUT_S,
    LOCAL_TOKEN,
    PARAMETER_OVERRIDES,
    PORTALS_ENV_OVERRIDES,
    RUNTIME_HANDLER,
    VISIBILITY_TIMEOUT_S,
    WRAPPED_HANDLER,
    parse_args,
)
from local.chaos.hostile import HostileFaults
from local.chaos.injection import ChaosEnvironment, InjectionCounts
from local.chaos.invariants import check_invariants
from local.chaos.portal_faults import PortalRevocation
from local.chaos.portals import PortalLayout, emulators
from local.chaos.report import Report, print_report
from local.chaos.schedule import Schedule
from local.chaos.workload import chaos_workload
from local.workload.actors import ActorRun, plan_actor_changes
from local.workload.drive import Pipeline, drained, forward_receive, start_sources, stop_all, wait_for_drain
from local.workload.feeder import Feeder
from local.workload.plan import slot_layout
from local.workload.progress import Progress
from local.workload.tally import RunTally


def run(args: argparse.Namespace) -> Report:  # noqa: PLR0915 - one linear script of the run
    from local.hostile import Profile, running_hostile
    from local.hubspot_emulator import EmulatorConfig, Faults, running_emulator
    from local.hubspot_emulator.remote import act

    started = time.monotonic()
    report = Report()
    config = EmulatorConfig(request_log_limit=500_000)  # kept to explain a failing key
    portal = {sub_id: sub.business_unit_id for sub_id, sub in config.definitions.items()}
    layout = PortalLayout.of(args.portals)
    workload = chaos_workload(
        args.messages,
        seed=args.seed,
        portal=portal,
        late_ratio=args.late_ratio,
        resend_ratio=args.resend_ratio,
        unsubscribe_all_ratio=args.unsubscribe_all_ratio,
        poison_ratio=args.poison_ratio,
        portals=layout.rotation,
    )
    actors = plan_actor_changes(workload.items, ratio=args.actor_ratio, seed=args.seed, portal=portal)
    logs_dir = args.logs or Path(tempfile.mkdtemp(prefix="make-chaos-logs-"))
    logs_dir.mkdir(parents=True, exist_ok=True)
    tally = RunTally()
    pipeline = Pipeline()
    counts = InjectionCounts()
    archive = DeadLetters()
    baseline = Faults(
        latency_ms=0,
        latency_max_ms=20,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        throttle_rate=args.throttle_rate,
        seed=args.seed,
    )
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        # DynamoDB (the ordering ledger) and Secrets Manager get a moto process of their own, as they
        # are separate services in AWS: one moto process serving everything saturates one core and
        # answers the function's AWS calls slower than its 2 s read timeout.
        aws = stack.enter_context(local_aws(logs_dir, separate=("dynamodb", "secretsmanager")))
        emulator = stack.enter_context(  # docs/emulator.md, Several portals: tokens route the calls
            running_emulator(
                config, tokens=layout.emulator_tokens, faults=Faults(), portals=layout.specs(config)
            )
        )
        hostile = HostileFaults(args.seed)
        relay = stack.enter_context(running_hostile(Profile(relay=hostile.relay), upstream=emulator.base_url))
        overrides = {**PARAMETER_OVERRIDES, **args.parameters, "HubSpotApiBaseUrl": relay.url}
        deployment = aws.provision(
            token=LOCAL_TOKEN,
            shards=args.shards,
            overrides=overrides,
            portal_tokens=dict(layout.tokens) or None,
        )
        settings, provisioned = deployment.settings, deployment.provisioned
        sqs, secrets = aws.client("sqs"), aws.client("secretsmanager")
        credentials = layout.credentials(emulator, provisioned, args.seed)
        portal_emulators = emulators(credentials)
        for queue in provisioned.queues:
            sqs.set_queue_attributes(
                QueueUrl=queue.url, Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
            )
        stack.callback(stop_all, pipeline)
        environments: list[ChaosEnvironment] = []
        slots = slot_layout(args.concurrency, args.shards)

        def hubspot_calls() -> int:
            return sum(int(portal.counters().get("total", 0)) for portal in portal_emulators)

        runtime_env = {
            **function_env(args.portals),
            "AWS_LAMBDA_LOG_LEVEL": str(overrides.get("LogLevel", "INFO")),  # LoggingConfig's level
            WRAPPED_HANDLER: settings.handler,
        }
        for shard in range(args.shards):
            spec = dataclasses.replace(
                deployment.function_spec(shard, overrides=runtime_env, timeout_s=FUNCTION_TIMEOUT_S),
                handler=RUNTIME_HANDLER,
            )
            shard_envs = [
                ChaosEnvironment(
                    spec,
                    counts=counts,
                    rng=random.Random(rng.random()),
                    kill_rate=args.kill_rate,
                    tiny_rate=args.tiny_rate,
                    hubspot_calls=hubspot_calls,
                    repo_importable=True,  # for local.chaos.lambda_logging, the runtime's set-up
                    name=f"shard{shard}-slot{slot}",
                    log_file=logs_dir / f"shard{shard}-slot{slot}.log",
                )
                for slot in range(slots[shard])
            ]
            environments.extend(shard_envs)
            pipeline.sources.append(
                deployment.event_source(
                    shard,
                    spec,
                    slots=slots[shard],
                    poll_wait_s=1,
                    log_dir=logs_dir,
                    on_receive=forward_receive(pipeline, shard),
                    on_invocation=tally.record,
                    environments=shard_envs,
                )
            )
        _describe(args, settings, logs_dir, len(workload), layout.describe(config) if layout.ids else "")
        start_sources(pipeline.sources)
        schedule = Schedule(
            credentials=credentials,
            sqs=sqs,
            secrets=secrets,
            provisioned=provisioned,
            baseline=baseline,
            cycle_s=args.cycle_s,
            counts=counts,
            archive=archive,
            dlq_outage=not args.no_dlq_outage,
            environments=environments,
            hostile=hostile,
            hostile_rate=args.hostile_rate,
        )
        init_done = time.monotonic()
        feeder = pipeline.feeder = Feeder(
            queue_urls=[q.url for q in provisioned.queues],
            workload=workload,
            sqs_client=lambda: aws.client("sqs"),
            high_water=max(20, 2 * settings.batch_size),
        )
        if not args.quiet:
            pipeline.progress = Progress(
                lambda: _progress(tally, feeder, pipeline.sources, len(workload), counts)
            )
            pipeline.progress.start()
        hubspot_side = ActorRun(
            actors,
            lambda body: act(emulator.base_url, body),
            lambda body, portal: act(emulator.base_url, body, portal=portal),
        )
        hubspot_side.before_feed()  # changes made in HubSpot while the messages were queued
        revocation = PortalRevocation(
            layout.credential(layout.revoked, credentials),
            secrets=secrets,
            counts=counts,
            cycle_s=args.cycle_s,
        )
        schedule.start()
        revocation.start()
        feeder.start()
        hubspot_side.start(lambda: feeder.sent / max(1, len(workload)))
        # Faults run while the feeder sends and for one more cycle; then the tail drains calmly, so
        # the run ends (a schedule that never stops could keep a message coming back forever).
        feeder.wait(args.drain_timeout)
        hubspot_side.stop()
        stack_end = time.monotonic() + args.cycle_s
        while time.monotonic() < stack_end and not drained(sqs, provisioned, feeder, pipeline.sources):
            time.sleep(0.5)
        while time.monotonic() < init_done + args.min_faults_s:
            time.sleep(0.5)
        faults_s = time.monotonic() - init_done
        revocation.stop()
        schedule.stop()
        all_drained = wait_for_drain(
            sqs, provisioned, feeder, pipeline.sources, max(60.0, args.drain_timeout - faults_s)
        )
        drain_s = time.monotonic() - init_done
        if pipeline.progress:
            pipeline.progress.stop()
            pipeline.progress = None
        for source in pipeline.sources:
            source.stop()
        read_dead_letters(sqs, provisioned.dead_letter_queue.url, archive)
        check_invariants(
            report,
            workload=workload,
            tally=tally,
            counts=counts,
            letters=archive,
            sqs=sqs,
            provisioned=provisioned,
            emulator=emulator,
            schedule=schedule,
            logs_dir=logs_dir,
            drained=all_drained,
            feeder=feeder,
            sources=pipeline.sources,
            hostile=hostile,
            environments=environments,
            actors=hubspot_side,
            layout=layout,
            credentials=credentials,
            revocation=revocation,
        )
        report.figures["faults_s"] = round(faults_s, 1)
        report.figures["drain_s"] = round(drain_s, 1)
    report.figures["wall_s"] = round(time.monotonic() - started, 1)
    sys.stdout.write(f"\nlogs: {logs_dir}\n")
    if report.ok and args.logs is None:
        shutil.rmtree(logs_dir, ignore_errors=True)
    return report


def _progress(
    tally: RunTally, feeder: Feeder, sources: Sequence[SqsEventSource], total: int, counts: InjectionCounts
) -> tuple[int, int, str]:
    snap = tally.snapshot()
    busy = sum(source.busy_slots for source in sources)
    return (
        snap["deleted"],
        total,
        f"sent {feeder.sent}  invocations {snap['invocations']} ({busy} running)  retried {snap['retried']}  "
        f"kills {counts.kills}  tiny {counts.tiny_budgets}  windows {sum(counts.windows.values())}",
    )


def _describe(args: argparse.Namespace, settings: Any, logs_dir: Path, messages: int, portals: str) -> None:
    s = settings
    sys.stdout.write(
        f"template: BatchSize {s.batch_size}, window {s.batching_window_s} s, maxReceiveCount "
        f"{s.max_receive_count}; simulated: function timeout {FUNCTION_TIMEOUT_S:g} s, visibility "
        f"{VISIBILITY_TIMEOUT_S} s, env {function_env(args.portals)}, parameters {PARAMETER_OVERRIDES}\n"
        f"local:    {args.concurrency} slots over {args.shards} shards; {messages} messages; fault cycle "
        f"{args.cycle_s:g} s; HubSpot-side changes for {args.actor_ratio:g} of the contacts\n"
        f"{portals}logs:     {logs_dir}\n"
    )
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        return 130
    print_report(report, sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())


def function_env(portals: int) -> dict[str, str]:
    """The function's simulated settings (cli.ENV_OVERRIDES; with several portals, PORTALS_ENV_OVERRIDES)."""
    return {**ENV_OVERRIDES, **(PORTALS_ENV_OVERRIDES if portals > 1 else {})}
