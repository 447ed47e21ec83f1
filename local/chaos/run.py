"""`make chaos`: the local pipeline under a fault schedule, with invariants checked at the end.

    make chaos                                   # the full suite (10,000 messages, about 5 minutes)
    make chaos ARGS="--profile small"            # what `make test` runs (tests/local/test_chaos.py)
    make chaos ARGS="--messages 20000 --seed 7"  # bigger, another workload and fault draw

The pipeline is `make run`'s: moto SQS with the template's queue, DLQ and redrive policy, the local SQS
event source with one warm worker process per slot, the real handler, the HubSpot emulator. On top:

- a schedule thread cycles through fault windows (set_faults on the emulator): 429 bursts
  (ten-secondly) and a DAILY window, hangs past the client's read timeout, whole-batch 400s, batch
  `status: PROCESSING`, per-item errors with an empty context, 403 MISSING_SCOPES, a token revoked in the
  emulator then a new one added and put into the secret (401s in between), and a DLQ outage (the DLQ
  queue deleted for a window and recreated with the same name and attributes);
- under every window, background faults at random: 5xx, dropped connections, ten-secondly 429s, latency;
- per invocation, at a rate: the worker SIGKILLed mid-batch, or a context with almost no time left;
- the workload (local.chaos.workload): invalid bodies, subscription 999999, unsubscribe-alls, duplicates
  within and across batches, older updates sent after newer ones.

Invariants (each a hard failure, exit 1): final state = newest update per key; every invalid message in
the DLQ with a reason and no valid one there; nothing left in flight and every message in exactly one
final outcome; no token and no raw email in any worker log line; no invocation timed out or raised, and
no crash except the injected kills. The last stdout line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.aws import template_model
from local.aws.event_source import EventSourceMapping, SqsEventSource, default_sqs_client
from local.aws.moto import MotoServer
from local.aws.provision import Provisioned, provision
from local.aws.queues import REDRIVE_REASON, DeadLetters, queue_depth, read_dead_letters
from local.aws.runtime import ExecutionEnvironment, FunctionSpec, InvokeResult
from local.chaos.workload import LATE, RESEND, chaos_workload, is_invalid
from local.run import (
    LOCAL_TOKEN,
    REGION,
    REPO_ROOT,
    Pipeline,
    aws_client,
    forward_receive,
    function_environment,
    guard_environment,
    start_sources,
    stop_all,
    wait_for_drain,
)
from local.workload.feeder import Feeder
from local.workload.progress import Progress
from local.workload.tally import RunTally
from local.workload.verify import check_state, emulator_lookup
from local.workload.workload import APPLY, Workload

DEFAULT_MESSAGES = 10_000
FUNCTION_TIMEOUT_S = 30.0  # FunctionTimeoutSeconds: the smallest value the template allows
VISIBILITY_TIMEOUT_S = 45  # > the function timeout, so a crashed batch is back in 45 s, not 480 s
TINY_BUDGET_S = 4.0  # "almost no time left": less than connect + read + the handler's 5 s margin
ENV_OVERRIDES = {
    "RETRY_BACKOFF_BASE_SECONDS": "1",
    "RETRY_BACKOFF_MAX_SECONDS": "4",
    "HUBSPOT_CONNECT_TIMEOUT_SECONDS": "1",
    "HUBSPOT_READ_TIMEOUT_SECONDS": "2",
}
PARAMETER_OVERRIDES = {"DailyLimitRetrySeconds": "3", "MaximumBatchingWindowInSeconds": "1"}
PROFILES: dict[str, dict[str, Any]] = {
    # 10,000 messages, BatchSize as deployed (100): about five minutes on 2 cores
    "full": {
        "messages": DEFAULT_MESSAGES,
        "cycle_s": 40.0,
        "kill_rate": 0.02,
        "tiny_rate": 0.02,
        "min_faults_s": 0.0,
    },
    # make test: a few hundred messages in batches of 10 (so enough invocations meet every window),
    # two fault cycles, about a minute
    "small": {
        "messages": 400,
        "cycle_s": 12.0,
        "kill_rate": 0.1,
        "tiny_rate": 0.1,
        "min_faults_s": 24.0,
        "parameters": {"BatchSize": "10"},
    },
}
HANG_S = 4.0  # past the 2 s read timeout
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--profile", choices=sorted(PROFILES), default="full", help="preset sizes and rates (default full)")
    add("--messages", type=int, help="messages to send (full 10,000; small 400)")
    add("--seed", type=int, default=1, help="workload and fault seed")
    add("--shards", type=int, default=2, help="identical source queues (moto is O(queue length) per call)")
    add("--concurrency", type=int, default=4, help="concurrent invocations over all shards")
    add("--cycle-s", type=float, help="length of one fault-schedule cycle (seconds; full 40, small 12)")
    add("--error-rate", type=float, default=0.03, help="background 5xx per HubSpot request")
    add("--drop-rate", type=float, default=0.01, help="background dropped connections per request")
    add("--throttle-rate", type=float, default=0.03, help="background ten-secondly 429s per request")
    add(
        "--kill-rate",
        type=float,
        help="invocations whose worker is SIGKILLed mid-batch (full 0.02, small 0.1)",
    )
    add("--tiny-rate", type=float, help=f"invocations given only {TINY_BUDGET_S:g} s (full 0.02, small 0.1)")
    add("--late-ratio", type=float, default=0.03, help="older updates sent after the newer ones")
    add("--resend-ratio", type=float, default=0.03, help="messages sent a second time, later")
    add("--unsubscribe-all-ratio", type=float, default=0.2, help="addresses that also get an unsubscribe-all")
    add(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (e.g. BatchSize=10)",
    )
    add("--min-faults-s", type=float, help="keep the fault schedule on at least this long (small: 2 cycles)")
    add("--no-dlq-outage", action="store_true", help="leave the DLQ up")
    add("--drain-timeout", type=float, default=1200.0)
    add("--logs", type=Path, help="keep worker and moto logs in this directory")
    add("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    for name, value in PROFILES[args.profile].items():
        if name != "parameters" and getattr(args, name) is None:
            setattr(args, name, value)
    args.parameters = {
        **PROFILES[args.profile].get("parameters", {}),
        **dict(p.split("=", 1) for p in args.parameter if "=" in p),
    }
    if args.messages < 1 or args.shards < 1 or args.concurrency < args.shards or args.shards > 10:
        parser.error("--messages >= 1, 1 <= --shards <= 10, --concurrency >= --shards")
    return args


# --------------------------------------------------------------------------------------------------
# Injected faults outside HubSpot: worker kills and tiny time budgets
# --------------------------------------------------------------------------------------------------


@dataclass
class InjectionCounts:
    """What the harness itself injected (the emulator counts its own)."""

    kills: int = 0
    kill_after_hubspot_call: int = 0
    tiny_budgets: int = 0
    windows: Counter[str] = field(default_factory=Counter)
    token_rotations: int = 0
    dlq_outages: int = 0
    dlq_outage_s: float = 0.0
    crashed_request_ids: set[str] = field(default_factory=set)
    tiny_request_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ChaosEnvironment(ExecutionEnvironment):
    """An execution environment that, at configured rates, SIGKILLs its worker while an invocation is in
    flight (a Lambda host dying mid-batch), or invokes with a deadline only TINY_BUDGET_S away (an
    invocation that starts with almost no time left). The event source sees what it would see in Lambda:
    a crashed or timed-out invocation, and restarts the environment on the next batch."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        counts: InjectionCounts,
        rng: random.Random,
        kill_rate: float,
        tiny_rate: float,
        hubspot_calls: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        super().__init__(spec, **kwargs)
        self._counts = counts
        self._rng = rng
        self._kill_rate = kill_rate
        self._tiny_rate = tiny_rate
        self._hubspot_calls = hubspot_calls
        self._current: str | None = None
        self.active = threading.Event()  # set while the schedule wants injections

    def invoke(self, event: Any, request_id: str | None = None) -> InvokeResult:
        request_id = request_id or os.urandom(8).hex()
        draw = self._rng.random() if self.active.is_set() else 1.0
        if draw < self._tiny_rate:
            original = self.spec
            self.spec = dataclasses.replace(original, timeout_s=TINY_BUDGET_S)
            with self._counts.lock:
                self._counts.tiny_budgets += 1
                self._counts.tiny_request_ids.add(request_id)
            try:
                return super().invoke(event, request_id)
            finally:
                self.spec = original
        timer = None
        if draw < self._tiny_rate + self._kill_rate:
            timer = threading.Timer(
                self._rng.uniform(0.3, 1.5), self._kill_if_running, args=(request_id, self._hubspot_calls())
            )
            timer.daemon = True
        self._current = request_id
        try:
            if timer is not None:
                timer.start()
            return super().invoke(event, request_id)
        finally:
            self._current = None
            if timer is not None:
                timer.cancel()

    def _kill_if_running(self, request_id: str, calls_before: int) -> None:
        process = self._process
        if self._current != request_id or process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
            with self._counts.lock:
                self._counts.kills += 1
                self._counts.crashed_request_ids.add(request_id)
                if self._hubspot_calls() > calls_before:
                    self._counts.kill_after_hubspot_call += 1


# --------------------------------------------------------------------------------------------------
# The fault schedule
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One fault window of the cycle: starts at `at` (fraction of the cycle), lasts `length` of it."""

    name: str
    at: float
    length: float
    faults: dict[str, Any] = field(default_factory=dict)


WINDOWS = (
    Window("429 burst (TEN_SECONDLY)", 0.04, 0.06, {"throttle_for_s": 1e9}),
    Window("hang past read timeout", 0.14, 0.04, {"script": ("hang",) * 6, "hang_s": HANG_S}),
    Window("whole-batch 400", 0.22, 0.08, {"whole_batch_400": True}),
    Window("status PROCESSING", 0.34, 0.05, {"processing": True}),
    Window("nameless error context", 0.44, 0.08, {"nameless_context": True}),
    Window("403 MISSING_SCOPES", 0.56, 0.05, {"forced_missing_scopes": True}),
    Window("429 DAILY", 0.66, 0.05, {"daily_exhausted": True}),
    Window("401 token revoked", 0.76, 0.04, {}),  # revoke now, rotate the secret at the end
    Window("DLQ outage", 0.86, 0.08, {}),
)


class Schedule:
    """Cycles through WINDOWS, with the background faults always on, until stopped. Stopping restores
    everything (baseline faults off, DLQ back, a live token in the secret)."""

    def __init__(
        self,
        *,
        emulator: Any,
        sqs: Any,
        secrets: Any,
        provisioned: Provisioned,
        baseline: Any,
        cycle_s: float,
        counts: InjectionCounts,
        archive: DeadLetters,
        dlq_outage: bool,
        environments: Sequence[ChaosEnvironment],
        seed: int,
    ) -> None:
        self.emulator = emulator
        self.sqs = sqs
        self.secrets = secrets
        self.provisioned = provisioned
        self.baseline = baseline
        self.cycle_s = cycle_s
        self.counts = counts
        self.archive = archive
        self.dlq_outage = dlq_outage
        self.environments = environments
        self.token = LOCAL_TOKEN
        self.tokens_used = [LOCAL_TOKEN]
        self._generation = 0
        self._seed = seed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-schedule")
        self._dlq_down = False
        self._down_at = 0.0
        self._live = {LOCAL_TOKEN}
        self._dlq_attributes: dict[str, str] = {}
        self.errors: list[str] = []
        # (time.time()) from the DLQ's last drain to its deletion: a dead-letter send landing in there
        # is destroyed with the queue, by the harness, not lost by the function
        self.destroy_windows: list[tuple[float, float]] = []

    def start(self) -> None:
        self.emulator.set_faults(self.baseline)
        for env in self.environments:
            env.active.set()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30.0)
        for env in self.environments:
            env.active.clear()
        from local.hubspot_emulator import Faults

        self.emulator.set_faults(Faults())
        if self._dlq_down:
            self._dlq_up()
        if self.token not in self._live:
            self._rotate()

    def _run(self) -> None:
        start = time.monotonic()
        cycle = 0
        while not self._stop.is_set():
            for window in WINDOWS:
                begin = start + (cycle + window.at) * self.cycle_s
                if not self._sleep_until(begin):
                    return
                try:
                    self._open(window)
                    self._sleep_until(begin + window.length * self.cycle_s)
                    self._close(window)
                except Exception as exc:  # keep cycling; report it
                    self.errors.append(f"{window.name}: {type(exc).__name__}: {exc}")
                if self._stop.is_set():
                    return
            cycle += 1

    def _sleep_until(self, moment: float) -> bool:
        return not self._stop.wait(max(0.0, moment - time.monotonic()))

    def _open(self, window: Window) -> None:
        with self.counts.lock:
            self.counts.windows[window.name] += 1
        if window.name.startswith("401"):
            self._live = {t for t in self._live if t != self.token}
            self.emulator.revoke_token(self.token)
            return
        if window.name == "DLQ outage":
            if self.dlq_outage:
                self._dlq_down_now()
            return
        self.emulator.set_faults(dataclasses.replace(self.baseline, **window.faults))

    def _close(self, window: Window) -> None:
        if window.name.startswith("401"):
            self._rotate()
            return
        if window.name == "DLQ outage":
            if self._dlq_down:
                self._dlq_up()
            return
        self.emulator.set_faults(self.baseline)

    def _rotate(self) -> None:
        """A new private-app token in HubSpot, then in the secret (as an operator rotates it)."""
        self._generation += 1
        token = f"pat-chaos-{self._seed}-{self._generation}-{os.urandom(6).hex()}"
        self.emulator.add_private_app_token(token)
        self.secrets.put_secret_value(
            SecretId=self.provisioned.secret_arn, SecretString=json.dumps({"accessToken": token})
        )
        self.token = token
        self.tokens_used.append(token)
        self._live = {*self._live, token}
        with self.counts.lock:
            self.counts.token_rotations += 1

    def _dlq_down_now(self) -> None:
        url = self.provisioned.dead_letter_queue.url
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self._dlq_attributes = {
            k: v
            for k, v in attributes.items()
            if k
            not in {
                "QueueArn",
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
                "CreatedTimestamp",
                "LastModifiedTimestamp",
                "SqsManagedSseEnabled",
            }
        }
        # Deleting a queue deletes its messages: take them out first and keep them (the harness's
        # record of what was dead-lettered), then delete.
        drained_at = time.time()
        read_dead_letters(self.sqs, url, self.archive, delete=True)
        self.sqs.delete_queue(QueueUrl=url)
        self.destroy_windows.append((drained_at, time.time()))
        self._dlq_down = True
        self._down_at = time.monotonic()
        with self.counts.lock:
            self.counts.dlq_outages += 1

    def _dlq_up(self) -> None:
        name = self.provisioned.dead_letter_queue.name
        self.sqs.create_queue(QueueName=name, Attributes=self._dlq_attributes)
        # moto binds a RedrivePolicy to the queue object, AWS to the ARN: set the same policy again
        # so the source queues redrive into the recreated DLQ, as they would in AWS.
        for queue in self.provisioned.queues:
            policy = self.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["RedrivePolicy"])
            text = policy["Attributes"].get("RedrivePolicy")
            if text:
                self.sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"RedrivePolicy": text})
        self._dlq_down = False
        with self.counts.lock:
            self.counts.dlq_outage_s += time.monotonic() - self._down_at


# --------------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Every figure of the run and the invariants' verdicts."""

    figures: dict[str, Any] = field(default_factory=dict)
    invariants: dict[str, list[str]] = field(default_factory=dict)  # name -> problems (empty: held)
    notes: list[str] = field(default_factory=list)
    explanations: list[list[str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and not any(self.invariants.values())


def run(args: argparse.Namespace) -> Report:  # noqa: PLR0915 - one linear script of the run
    from local.hubspot_emulator import EmulatorConfig, Faults, running_emulator

    started = time.monotonic()
    report = Report()
    config = EmulatorConfig(request_log_limit=500_000)  # kept to explain a failing key
    portal = {sub_id: sub.business_unit_id for sub_id, sub in config.definitions.items()}
    workload = chaos_workload(
        args.messages,
        seed=args.seed,
        portal=portal,
        late_ratio=args.late_ratio,
        resend_ratio=args.resend_ratio,
        unsubscribe_all_ratio=args.unsubscribe_all_ratio,
    )
    logs_dir = args.logs or Path(tempfile.mkdtemp(prefix="make-chaos-logs-"))
    logs_dir.mkdir(parents=True, exist_ok=True)
    guard_environment("http://127.0.0.1:9")
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
        moto = stack.enter_context(MotoServer(log_file=logs_dir / "moto.log"))
        # DynamoDB (the ordering ledger) and Secrets Manager get a moto process of their own, as they
        # are separate services in AWS: one moto process serving everything saturates one core and
        # answers the function's AWS calls slower than its 2 s read timeout.
        moto_aux = stack.enter_context(MotoServer(log_file=logs_dir / "moto-aux.log"))
        guard_environment(moto.endpoint)
        aux_endpoints = {
            "AWS_ENDPOINT_URL_DYNAMODB": moto_aux.endpoint,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_aux.endpoint,
        }
        emulator = stack.enter_context(running_emulator(config, tokens=[LOCAL_TOKEN], faults=Faults()))
        overrides = {**PARAMETER_OVERRIDES, **args.parameters, "HubSpotApiBaseUrl": emulator.base_url}
        settings = template_model.deployment_settings(REPO_ROOT / "template.yaml", overrides)
        sqs = default_sqs_client(REGION, moto.endpoint)
        secrets = aws_client("secretsmanager", moto_aux.endpoint)
        provisioned = provision(
            sqs,
            secrets,
            REPO_ROOT / "template.yaml",
            token=LOCAL_TOKEN,
            shards=args.shards,
            overrides=overrides,
            dynamodb=aws_client("dynamodb", moto_aux.endpoint),
        )
        for queue in provisioned.queues:
            sqs.set_queue_attributes(
                QueueUrl=queue.url, Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
            )
        stack.callback(stop_all, pipeline)
        environments: list[ChaosEnvironment] = []
        slots = [
            args.concurrency // args.shards + (1 if s < args.concurrency % args.shards else 0)
            for s in range(args.shards)
        ]

        def hubspot_calls() -> int:
            return int(emulator.counters().get("total", 0))

        for shard, queue in enumerate(provisioned.queues):
            spec = FunctionSpec(
                handler=settings.handler,
                code_uri=REPO_ROOT / settings.code_uri,
                timeout_s=FUNCTION_TIMEOUT_S,
                memory_mb=settings.memory_mb,
                function_name="local-status-writer",
                environment=function_environment(
                    settings, provisioned, shard, moto.endpoint, {**ENV_OVERRIDES, **aux_endpoints}
                ),
                region=REGION,
            )
            shard_envs = [
                ChaosEnvironment(
                    spec,
                    counts=counts,
                    rng=random.Random(rng.random()),
                    kill_rate=args.kill_rate,
                    tiny_rate=args.tiny_rate,
                    hubspot_calls=hubspot_calls,
                    name=f"shard{shard}-slot{slot}",
                    log_file=logs_dir / f"shard{shard}-slot{slot}.log",
                )
                for slot in range(slots[shard])
            ]
            environments.extend(shard_envs)
            mapping = EventSourceMapping(
                queue_url=queue.url,
                queue_arn=queue.arn,
                batch_size=settings.batch_size,
                batching_window_s=settings.batching_window_s,
                maximum_concurrency=slots[shard],
                region=REGION,
                poll_wait_s=1,
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
                    environments=shard_envs,
                )
            )
        _describe(args, settings, logs_dir, len(workload))
        start_sources(pipeline.sources)
        schedule = Schedule(
            emulator=emulator,
            sqs=sqs,
            secrets=secrets,
            provisioned=provisioned,
            baseline=baseline,
            cycle_s=args.cycle_s,
            counts=counts,
            archive=archive,
            dlq_outage=not args.no_dlq_outage,
            environments=environments,
            seed=args.seed,
        )
        init_done = time.monotonic()
        feeder = pipeline.feeder = Feeder(
            queue_urls=[q.url for q in provisioned.queues],
            workload=workload,
            sqs_client=lambda: default_sqs_client(REGION, moto.endpoint),
            high_water=max(20, 2 * settings.batch_size),
        )
        if not args.quiet:
            pipeline.progress = Progress(
                lambda: _progress(tally, feeder, pipeline.sources, len(workload), counts)
            )
            pipeline.progress.start()
        schedule.start()
        feeder.start()
        # Faults run while the feeder sends and for one more cycle; then the tail drains calmly, so
        # the run ends (a schedule that never stops could keep a message coming back forever).
        feeder.wait(args.drain_timeout)
        stack_end = time.monotonic() + args.cycle_s
        while time.monotonic() < stack_end and not _drained(sqs, provisioned, feeder, pipeline.sources):
            time.sleep(0.5)
        while time.monotonic() < init_done + args.min_faults_s:
            time.sleep(0.5)
        faults_s = time.monotonic() - init_done
        schedule.stop()
        drained = wait_for_drain(
            sqs, provisioned, feeder, pipeline.sources, max(60.0, args.drain_timeout - faults_s)
        )
        drain_s = time.monotonic() - init_done
        if pipeline.progress:
            pipeline.progress.stop()
            pipeline.progress = None
        for source in pipeline.sources:
            source.stop()
        read_dead_letters(sqs, provisioned.dead_letter_queue.url, archive)
        _verify(
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
            drained=drained,
            feeder=feeder,
            sources=pipeline.sources,
        )
        report.figures["faults_s"] = round(faults_s, 1)
        report.figures["drain_s"] = round(drain_s, 1)
    report.figures["wall_s"] = round(time.monotonic() - started, 1)
    sys.stdout.write(f"\nlogs: {logs_dir}\n")
    if report.ok and args.logs is None:
        shutil.rmtree(logs_dir, ignore_errors=True)
    return report


def _drained(sqs: Any, provisioned: Provisioned, feeder: Feeder, sources: Sequence[SqsEventSource]) -> bool:
    if not feeder.done or any(source.busy_slots for source in sources):
        return False
    return all(queue_depth(sqs, queue.url) == 0 for queue in provisioned.queues)


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


def _describe(args: argparse.Namespace, settings: Any, logs_dir: Path, messages: int) -> None:
    s = settings
    sys.stdout.write(
        f"template: BatchSize {s.batch_size}, window {s.batching_window_s} s, maxReceiveCount "
        f"{s.max_receive_count}; simulated: function timeout {FUNCTION_TIMEOUT_S:g} s, visibility "
        f"{VISIBILITY_TIMEOUT_S} s, env {ENV_OVERRIDES}, parameters {PARAMETER_OVERRIDES}\n"
        f"local:    {args.concurrency} slots over {args.shards} shards; {messages} messages; fault cycle "
        f"{args.cycle_s:g} s\nlogs:     {logs_dir}\n"
    )
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------------------------------


def _verify(  # noqa: PLR0912, PLR0915 - the five invariants, one after the other
    report: Report,
    *,
    workload: Workload,
    tally: RunTally,
    counts: InjectionCounts,
    letters: DeadLetters,
    sqs: Any,
    provisioned: Provisioned,
    emulator: Any,
    schedule: Schedule,
    logs_dir: Path,
    drained: bool,
    feeder: Feeder,
    sources: Sequence[SqsEventSource],
) -> None:
    items = [item for item in workload.items if item.message_id]
    inv: dict[str, list[str]] = {}
    bodies = {item.message_id: item for item in items}

    # 1. final state
    _, mismatches = check_state(items, emulator_lookup(emulator), tally.windows, letters.ids)
    report.explanations = [_explain(m.key, items, letters, tally, emulator) for m in mismatches[:5]]
    inv["1 final state = newest update per key"] = [
        f"key {m.key}: HubSpot {m.actual}, newest update says {m.expected} (message {m.message_id}: "
        f"{bodies[m.message_id].body[:140]}){' [stale overwrite]' if m.stale_overwrite else ''}"
        for m in mismatches
    ]

    # 2. DLQ contents
    problems2: list[str] = []
    invalid = [item for item in items if is_invalid(item)]
    portal_optouts = _portal_optouts(items)
    superseded_invalid = 0
    destroyed_with_dlq = 0
    for item in invalid:
        category = letters.by_handler.get(item.message_id)
        if category:
            continue
        if (
            item.message_id in tally.deleted_ids
            and item.message_id not in letters.redriven
            and _older_than_portal_optout(item, portal_optouts)
        ):
            superseded_invalid += 1  # README: an older write is superseded by a portal-wide opt-out
            continue
        window = tally.windows.get(item.message_id)
        if (
            item.message_id not in letters.redriven
            and window is not None
            and any(window[0] <= end and start <= window[1] for start, end in schedule.destroy_windows)
        ):
            destroyed_with_dlq += 1  # its invocation overlapped a drain-and-delete of the DLQ
            continue
        where = (
            "redriven by SQS without a reason" if item.message_id in letters.redriven else "not in the DLQ"
        )
        problems2.append(f"invalid message {item.message_id} {where}: {item.body[:100]}")
    valid_in_dlq = [item for item in items if not is_invalid(item) and item.message_id in letters.ids]
    problems2 += [
        f"valid message {item.message_id} in the DLQ "
        f"({letters.by_handler.get(item.message_id) or REDRIVE_REASON}): {item.body[:100]}"
        for item in valid_in_dlq
    ]
    inv["2 invalid -> DLQ with reason; no valid in DLQ"] = problems2

    # 3. accounting
    problems3: list[str] = []
    in_flight = sum(queue_depth(sqs, queue.url) for queue in provisioned.queues)
    if not drained:
        problems3.append("the queues did not drain within --drain-timeout")
    if in_flight:
        problems3.append(f"{in_flight} messages left in the source queues")
    if feeder.send_errors:
        problems3.append(f"{len(feeder.send_errors)} send errors")
    if len(items) != len(workload):
        problems3.append(f"only {len(items)} of {len(workload)} messages were sent")
    lost: list[str] = []
    for item in items:
        outcomes = int(item.message_id in tally.deleted_ids) + int(item.message_id in letters.redriven)
        if outcomes == 0:
            lost.append(item.message_id)
        elif outcomes > 1:
            problems3.append(f"message {item.message_id} deleted and redriven")
    problems3 += [f"lost: {mid} {bodies[mid].body[:100]}" for mid in lost[:20]]
    inv["3 nothing in flight; one outcome each"] = problems3

    # 4. logs
    secrets_in_logs = list(schedule.tokens_used)
    emails = {item.expectation.email.lower() for item in items if item.expectation.email}
    emails |= {m.lower() for item in items for m in _EMAIL.findall(item.body)}
    token_leaks = email_leaks = 0
    leak_samples: list[str] = []
    log_files = sorted(logs_dir.glob("shard*-slot*.log"))
    lines_scanned = 0
    for path in log_files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                lines_scanned += 1
                if any(token in line for token in secrets_in_logs):
                    token_leaks += 1
                    leak_samples.append(f"token in {path.name}")
                found = [m for m in _EMAIL.findall(line) if m.lower() in emails]
                if found:
                    email_leaks += 1
                    leak_samples.append(f"email {found[0]} in {path.name}: {line[:160]}")
    inv["4 no token, no raw email in logs"] = leak_samples[:20]
    if not lines_scanned:
        inv["4 no token, no raw email in logs"].append("no worker log lines captured")

    # 5. time budget, no raise
    problems5: list[str] = []
    outcomes = tally.outcomes
    if outcomes.get("timeout"):
        problems5.append(f"{outcomes['timeout']} invocations timed out")
    if outcomes.get("error"):
        problems5.append(f"{outcomes['error']} invocations raised")
    unexplained_crashes = [
        inv_rec.request_id
        for source in sources
        for inv_rec in source.invocations
        if inv_rec.result.status == "crash" and inv_rec.request_id not in counts.crashed_request_ids
    ]
    if unexplained_crashes:
        problems5.append(f"{len(unexplained_crashes)} crashes without an injected kill")
    samples: Counter[str] = Counter()
    for source in sources:
        for rec in source.invocations:
            if rec.result.status in {"error", "timeout"}:
                error = rec.result.error or {}
                tiny = " (tiny budget)" if rec.request_id in counts.tiny_request_ids else ""
                samples[
                    f"{rec.result.status}{tiny}: {error.get('errorType')}: {str(error.get('errorMessage'))[:120]}"
                ] += 1
    problems5 += [f"{n} x {text}" for text, n in samples.most_common(10)]
    inv["5 within time budget; raised only where a crash was injected"] = problems5
    report.invariants = inv

    # figures
    emu = emulator.counters()
    by_status = emu.get("by_status", {})
    emu_faults = dict(emu.get("faults", {}))
    rate_limited = emu.get("rate_limited", {})
    faults = {
        "http_5xx": sum(int(v) for k, v in emu_faults.items() if k in {"500", "502", "503", "504"}),
        "dropped_connection": int(emu_faults.get("drop", 0)),
        "hang_past_timeout": int(emu_faults.get("hang", 0)),
        "429_ten_secondly": int(rate_limited.get("TEN_SECONDLY_ROLLING", 0)),
        "429_daily": int(rate_limited.get("DAILY", 0)),
        "whole_batch_400": int(emu_faults.get("batch-400", emu_faults.get("whole_batch_400", 0))),
        "processing": int(emu_faults.get("processing", 0)),
        "nameless_context": int(emu_faults.get("nameless", emu_faults.get("nameless_context", 0))),
        "401_revoked_token": int(by_status.get("401", 0)),
        "403_missing_scopes": int(by_status.get("403", 0)),
        "token_rotations": counts.token_rotations,
        "dlq_outages": counts.dlq_outages,
        "worker_killed_mid_batch": counts.kills,
        "tiny_time_budget": counts.tiny_budgets,
        "duplicate_deliveries_sent": sum(1 for i in items if i.source == RESEND),
        "older_sent_after_newer": sum(1 for i in items if i.source == LATE),
        "unknown_subscription_999999": sum(
            1 for i in items if i.expectation.reason == "HUBSPOT_REJECTED_ITEM"
        ),
        "invalid_bodies": sum(1 for i in items if i.expectation.reason == "INVALID_MESSAGE"),
        "unsubscribe_all_messages": sum(1 for i in items if '"UNSUBSCRIBE_ALL"' in i.body),
    }
    wrong = len(mismatches)
    report.figures.update(
        {
            "messages": len(workload),
            "sent": len(items),
            "lost": len(lost),
            "wrong_final_state": wrong,
            "stale_overwrites": sum(1 for m in mismatches if m.stale_overwrite),
            "valid_in_dlq": len(valid_in_dlq),
            "invalid_messages": len(invalid),
            "invalid_in_dlq_with_reason": sum(1 for i in invalid if letters.by_handler.get(i.message_id)),
            "invalid_superseded_by_portal_optout": superseded_invalid,
            "dlq_duplicate_copies": letters.duplicates,
            "token_leaks": token_leaks,
            "email_leaks": email_leaks,
            "log_lines_scanned": lines_scanned,
            "in_flight": in_flight,
            "faults": faults,
            "emulator_fault_counters": emu_faults,
            "fault_windows_opened": dict(counts.windows),
            "kills_after_a_hubspot_call": counts.kill_after_hubspot_call,
            "hubspot_requests": int(emu.get("total", 0)),
            "hubspot_calls_logged": tally.hubspot_calls,
            "invocations": tally.invocations,
            "invocation_outcomes": dict(tally.outcomes),
            "failed_invocations": tally.failed_invocations,
            "retries": tally.retried,
            "redeliveries": sum(
                max(0, count - 1)
                for source in sources
                for rec in source.invocations
                for count in rec.receive_counts.values()
            ),
            "applied": tally.applied,
            "superseded": tally.superseded,
            "dlq_by_reason": letters.by_reason(),
            "invalid_destroyed_with_the_dlq": destroyed_with_dlq,
            "schedule_errors": schedule.errors,
            "poll_errors": sum(len(s.poll_errors) for s in sources),
        }
    )
    report.notes += [
        "invalid = the oracle's dead_letter class: INVALID_MESSAGE bodies and HUBSPOT_REJECTED_ITEM "
        "(subscription 999999); every other message is valid. A 999999 write older than a portal-wide "
        "unsubscribe-all of the same contact may instead be superseded (deleted without a call), as the "
        f"README's ordering rule says: {superseded_invalid} were",
        f"DLQ copies: {letters.duplicates} dead-lettered message(s) were sent to the DLQ twice (at-least-once: "
        "e.g. the worker was killed after the DLQ send); same outcome, counted once",
        f"simulation: function timeout {FUNCTION_TIMEOUT_S:g} s (the template's smallest) and queue "
        f"visibility {VISIBILITY_TIMEOUT_S} s (the template derives 480 s), backoff 1..4 s, DAILY park 3 s, HubSpot read timeout 2 s",
        "DLQ outage: the DLQ is emptied into the harness's record, deleted, recreated with the same name and "
        "attributes, and the source queues' RedrivePolicy set again (moto binds it to the queue object). "
        "A DLQ send landing between the harness's last drain and DeleteQueue is destroyed with the queue "
        "(as in AWS): an invalid message missing from the DLQ whose deleting invocation overlapped that "
        f"interval is counted here, not as a failure: {destroyed_with_dlq} were; --no-dlq-outage rules "
        "it out",
        "kills: SIGKILL of the worker's process group 0.3-1.5 s into an invocation; "
        f"{counts.kill_after_hubspot_call} of {counts.kills} after HubSpot answered at least one request "
        "in that interval (any invocation's)",
    ]


def _portal_optouts(items: Sequence[Any]) -> dict[str, list[Any]]:
    """Applicable portal-wide unsubscribe-alls (no businessUnitId) per lowercased email."""
    out: dict[str, list[Any]] = {}
    for item in items:
        if item.expectation.outcome != APPLY or '"UNSUBSCRIBE_ALL"' not in item.body:
            continue
        with contextlib.suppress(ValueError, AttributeError):
            if "businessUnitId" not in json.loads(item.body) and item.expectation.email:
                out.setdefault(item.expectation.email.lower(), []).append(item)
    return out


def _older_than_portal_optout(item: Any, optouts: dict[str, list[Any]]) -> bool:
    """A write (here: one HubSpot would reject) older than a portal-wide opt-out of the same contact:
    the function supersedes it by design (README, Unsubscribe from all), so it need not reach the DLQ."""
    email = (item.expectation.email or "").lower()
    moment = item.expectation.occurred_at
    return moment is not None and any(
        o.expectation.occurred_at is not None and o.expectation.occurred_at > moment
        for o in optouts.get(email, [])
    )


def _explain(
    key: tuple[str, int, str], items: Sequence[Any], letters: DeadLetters, tally: RunTally, emulator: Any
) -> list[str]:
    """Everything about one wrong key: the contact's messages (send order, fate) and every HubSpot
    request that carried the contact (time, route, answer, injected faults, what it asked for it)."""
    email = key[0]
    lines = [f"key {key}: HubSpot holds {(emulator.status(key[0], key[1], key[2]) or {}).get('status')}"]
    for item in items:
        if item.expectation.email and item.expectation.email.lower() == email:
            window = tally.windows.get(item.message_id)
            fate = (
                f"deleted after invocation {window[0]:.3f}-{window[1]:.3f}"
                if window
                else ("DLQ" if item.message_id in letters.ids else "?")
            )
            lines.append(f"  msg #{item.sequence} {item.source} sent {item.sent_at:.3f} {fate}: {item.body}")
    for entry in emulator.request_log():
        body = entry.get("body")
        text = json.dumps(body).lower() if body is not None else ""
        if email not in text:
            continue
        asked = []
        if isinstance(body, dict):
            for one in body.get("inputs") or []:
                if isinstance(one, dict) and str(one.get("subscriberIdString", "")).lower() == email:
                    asked.append(f"{one.get('subscriptionId')}={one.get('statusState')}")
                elif isinstance(one, str) and one.lower() == email:
                    asked.append("unsubscribe-all")
        lines.append(
            f"  HubSpot {entry.get('at')} {entry.get('route') or entry.get('path')} {entry.get('query')} -> "
            f"{entry.get('status')} faults={entry.get('faults')} asked {asked}"
        )
    return lines


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def print_report(report: Report, out: Any) -> None:
    f = report.figures
    rows: list[tuple[str, Any]] = [
        ("messages", f.get("messages")),
        (
            "HubSpot requests (emulator) / calls logged",
            f"{f.get('hubspot_requests')} / {f.get('hubspot_calls_logged')}",
        ),
        ("invocations (outcomes)", f"{f.get('invocations')} {f.get('invocation_outcomes')}"),
        ("retries (listed + failed batches)", f.get("retries")),
        ("redeliveries (receives after the first)", f.get("redeliveries")),
        ("applied / superseded", f"{f.get('applied')} / {f.get('superseded')}"),
    ]
    for name, value in (f.get("faults") or {}).items():
        rows.append((f"fault: {name}", value))
    for reason, value in (f.get("dlq_by_reason") or {}).items():
        rows.append((f"DLQ: {reason}", value))
    rows += [
        (
            "invalid messages (in DLQ with reason)",
            f"{f.get('invalid_messages')} ({f.get('invalid_in_dlq_with_reason')})",
        ),
        ("invalid superseded by a newer portal-wide opt-out", f.get("invalid_superseded_by_portal_optout")),
        ("DLQ duplicate copies (same outcome)", f.get("dlq_duplicate_copies")),
        ("valid in DLQ", f.get("valid_in_dlq")),
        ("lost", f.get("lost")),
        (
            "wrong final state (stale overwrites)",
            f"{f.get('wrong_final_state')} ({f.get('stale_overwrites')})",
        ),
        (
            "token leaks / email leaks (lines scanned)",
            f"{f.get('token_leaks')} / {f.get('email_leaks')} ({f.get('log_lines_scanned')})",
        ),
        (
            "wall time s (faults on / drained at)",
            f"{f.get('wall_s')} ({f.get('faults_s')} / {f.get('drain_s')})",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    out.write("\n" + "-" * (width + 30) + "\n")
    for name, value in rows:
        out.write(f"{name:<{width}}  {value}\n")
    out.write("-" * (width + 30) + "\ninvariants:\n")
    for name, problems in report.invariants.items():
        out.write(f"  {'PASS' if not problems else 'FAIL'}  {name}\n")
        for problem in problems[:10]:
            out.write(f"        {problem}\n")
        if len(problems) > 10:
            out.write(f"        ... and {len(problems) - 10} more\n")
    for lines in report.explanations:
        out.write("failing key, in detail:\n" + "".join(f"  {line}\n" for line in lines))
    out.write("notes:\n" + "".join(f"  - {note}\n" for note in report.notes))
    if f.get("schedule_errors"):
        out.write(f"schedule errors: {f['schedule_errors'][:5]}\n")
    summary = {
        "ok": report.ok,
        "messages": f.get("messages", 0),
        "lost": f.get("lost"),
        "wrong_final_state": f.get("wrong_final_state"),
        "valid_in_dlq": f.get("valid_in_dlq"),
        "token_leaks": f.get("token_leaks"),
        "email_leaks": f.get("email_leaks"),
        "faults": f.get("faults", {}),
        "hubspot_requests": f.get("hubspot_requests"),
        "retries": f.get("retries"),
        "redeliveries": f.get("redeliveries"),
        "dlq_by_reason": f.get("dlq_by_reason", {}),
        "invalid_destroyed_with_the_dlq": f.get("invalid_destroyed_with_the_dlq", 0),
        "invariants": {name: not problems for name, problems in report.invariants.items()},
        "problems": {name: problems[:5] for name, problems in report.invariants.items() if problems},
        "wall_s": f.get("wall_s"),
    }
    out.write(json.dumps(summary, separators=(",", ":")) + "\n")
    out.flush()


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
