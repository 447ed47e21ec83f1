"""Figure 3, CPU: the handler's own cost per message, with HubSpot replaced by an in-process transport.

Runs inside a function execution environment (``{"op": "cpu"}`` in bench.environment). The environment's
runtime is rebuilt with ``Runtime.create(settings, transport=ReplayTransport, sqs=...)``: the first pass
of each event goes through the emulator's core in-process (no sockets) and its answers are kept by
request body; the timed passes only look the answers up, so neither network nor server work is
counted, while everything the function does with them (request encoding, response decoding, outcome
mapping) is. Each timed handler run (process CPU time, all threads, minus the emulator's and the
AWS-call counting's own CPU time) is paired with ``json.loads`` over the same message bodies, run
right before and right after it in the same process; the ratio is the median of the runs' own
ratios. Paired so: this machine's speed drifts by up to 2x within a minute (a shared host), and a
ratio of two medians taken apart would carry that drift (bench/README.md).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from bench.environment import Environment
from bench.workload import EventSpec, event
from local.aws.context import LambdaContext

if TYPE_CHECKING:
    from bench.harness import World

SIZES = ((1_000, 30), (10_000, 6))  # (records per event, timed runs)
LEDGER_SIZES = ((1_000, 5),)  # with the ordering ledger on: moto answers slowly, so fewer runs
TIMEOUT_S = 900.0


def run(world: World, first_update: int, profile: bool = False) -> dict[str, Any]:
    """Parent side: fresh function environments run the probe; the headline is the worse event size
    with the template's configuration minus the ordering ledger (see bench.harness), and when the
    template has the ledger, the same figure with it on follows for 1,000-record events."""
    sizes = _probe(world, "cpu", {"sizes": SIZES, "first_update": first_update, "profile": profile}, False)
    worst = max(sizes, key=lambda size: size["ratio_to_json_loads"])
    figures: dict[str, Any] = {
        "us_per_message": worst["us_per_message"],
        "ratio_to_json_loads": worst["ratio_to_json_loads"],
        "headline_event_records": worst["records"],
        "ledger": "off",
        "by_event_size": sizes,
    }
    from bench.harness import CHECK_OFF

    # The same with the freshness check off: what the write path costs, as measured before the check.
    off = {"sizes": SIZES, "first_update": first_update + 2_000_000, "profile": False}
    figures["check_off"] = {"by_event_size": _probe(world, "cpu-check-off", off, False, CHECK_OFF)}
    if world.has_ledger:
        command = {
            "sizes": LEDGER_SIZES,
            "first_update": first_update + 1_000_000,
            "fresh": True,
            "profile": profile,
        }
        figures["with_ledger"] = _probe(world, "cpu-ledger", command, True)
        ledger_off = {**command, "first_update": first_update + 3_000_000, "profile": False}
        figures["with_ledger_check_off"] = _probe(world, "cpu-ledger-check-off", ledger_off, True, CHECK_OFF)
    return figures


def _probe(
    world: World, name: str, command: dict[str, Any], ledger: bool, env: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    from bench.harness import TOKEN

    with Environment(
        world.settings.handler,
        world.function_env(ledger=ledger, **(env or {})),
        world.log_path(name),
        world.code_uri,
    ) as environment:
        answer = environment.request({"op": "cpu", "token": TOKEN, **command})
    if not answer.get("ok"):
        raise RuntimeError(f"cpu probe failed: {answer.get('error')} (see {environment.log_path})")
    if command.get("profile"):
        path = world.log_dir / f"{name}-profile.txt"
        path.write_text(answer["profile"], encoding="utf-8")
        print(f"  profile written to {path}", flush=True)
    sizes: list[dict[str, Any]] = answer["sizes"]
    return sizes


class ReplayTransport(httpx.BaseTransport):
    """HubSpot without the network: answers computed once by the emulator core, then replayed. The
    emulator's own CPU time on first-seen requests is added up in ``server_cpu_s``."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self._answers: dict[tuple[str, bytes], tuple[int, list[tuple[str, str]], bytes]] = {}
        self._lock = threading.Lock()
        self.misses = 0
        self.server_cpu_s = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from local.hubspot_emulator.messages import Request

        body = request.read()
        key = (request.url.path, body)
        answer = self._answers.get(key)
        if answer is None:
            started = time.thread_time()
            outcome = self._core.handle(
                Request(
                    request.method,
                    request.url.path,
                    request.url.query.decode(),
                    request.headers.get("authorization"),
                    request.headers.get("content-type"),
                    body,
                )
            )
            answer = self._answers[key] = (outcome.status, outcome.headers, outcome.body)
            with self._lock:
                self.misses += 1
                self.server_cpu_s += time.thread_time() - started
        status, headers, content = answer
        return httpx.Response(status, headers=headers, content=content)


class NoSqs:
    """The runtime's SQS client; every update applies, so the function never calls it."""

    calls = 0

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        def call(**_: Any) -> dict[str, Any]:
            NoSqs.calls += 1
            return {"Successful": [], "Failed": []}

        return call


def probe(handler: Callable[[Any, Any], Any], command: Mapping[str, Any]) -> dict[str, Any]:
    """Worker side. ``fresh``: every run gets updates never seen before (needed with the ordering
    ledger on, which would otherwise find every update applied already and skip it). Their answers
    are computed before the timed run, by an untimed pass of the same event through a runtime without
    the ledger (``primer``): its HubSpot requests are the timed run's, since a contact never recorded
    has an empty history. So the timed run only looks answers up, as without the ledger; run inside
    it, the emulator's work (its CPU time subtracted) still slowed the function's own by ~10%."""
    from local.hubspot_emulator import EmulatorConfig
    from local.hubspot_emulator.core import EmulatorCore

    app = sys.modules[handler.__module__]
    from status_writer.pipeline import Runtime, process_batch  # the function's own (CodeUri on sys.path)

    unlimited = 1_000_000_000
    core = EmulatorCore(
        EmulatorConfig(rate_limit_max=unlimited, daily_limit=unlimited, request_log_limit=1),
        tokens=[command["token"]],
    )
    transport = ReplayTransport(core)
    wire = WireCounter()
    wire.attach_boto3()
    runtime = app._runtime = Runtime.create(app.SETTINGS, transport=transport, sqs=NoSqs())  # type: ignore[attr-defined]
    wire.attach_ledger(getattr(runtime.ledger, "db", None))
    fresh = bool(command.get("fresh"))
    # Only fresh runs need their answers computed first (a replayed event's are kept from its first pass).
    primer = (
        Runtime.create(replace(app.SETTINGS, version_table=None), transport=transport, sqs=NoSqs())
        if fresh
        else None
    )
    first_update = int(command.get("first_update", 0))
    results = []
    profiler = _profiler() if command.get("profile") else None
    for raw_size, reps in command["sizes"]:
        size = int(raw_size)
        specs = [EventSpec(first_update + run * size, size) for run in range(int(reps) + 1)]
        first_update += len(specs) * size
        events = [event(spec) for spec in specs] if fresh else [event(specs[0])]
        for _ in range(1 if fresh else 2):  # fills the caches (replay, secret, lazy imports)
            _check(handler(events[0], LambdaContext(timeout_ms=int(TIMEOUT_S * 1000))))
        misses_before = transport.misses
        wire.clear()
        handler_cpu, handler_wall, loads_cpu, ratios = [], [], [], []
        for run in range(int(reps)):
            the_event = events[run + 1] if fresh else events[0]
            if primer is not None:  # its answers, untimed (the misses below stay 0 if the requests match)
                misses = transport.misses
                process_batch(the_event, LambdaContext(timeout_ms=int(TIMEOUT_S * 1000)), primer)
                misses_before += transport.misses - misses
            cpu, wall, loads = _timed_run(handler, the_event, transport, wire, profiler)
            handler_cpu.append(cpu)
            handler_wall.append(wall)
            loads_cpu.append(loads)
            ratios.append(cpu / loads)
        per = 1e6 / size
        us = statistics.median(handler_cpu) * per
        json_us = statistics.median(loads_cpu) * per
        bodies = [record["body"] for record in events[0]["Records"]]
        results.append(
            {
                "records": size,
                "runs": int(reps),
                "us_per_message": round(us, 2),
                "wall_us_per_message": round(statistics.median(handler_wall) * per, 2),
                "json_loads_us_per_message": round(json_us, 3),
                "ratio_to_json_loads": round(statistics.median(ratios), 2),
                "body_bytes_mean": round(sum(len(b) for b in bodies) / len(bodies)),
                "replay_misses": transport.misses - misses_before,
                "aws_calls_per_invocation": {
                    name: count / int(reps) for name, count in sorted(wire.calls.items())
                },
                "dynamodb_items_per_update": {
                    name: round(count / (int(reps) * size), 3) for name, count in sorted(wire.items.items())
                },
            }
        )
    answer: dict[str, Any] = {"ok": True, "sizes": results, "sqs_calls": NoSqs.calls}
    if profiler is not None:
        answer["profile"] = profiler.output_text(unicode=True, color=False, show_all=False)
    return answer


def _timed_run(
    handler: Callable[[Any, Any], Any],
    the_event: dict[str, Any],
    transport: ReplayTransport,
    wire: WireCounter,
    profiler: Any,
) -> tuple[float, float, float]:
    """One handler run: its CPU time (the emulator's and the counting's taken out) and wall time, and
    the mean CPU time of ``json.loads`` over the same bodies right before and right after it."""
    bodies = [record["body"] for record in the_event["Records"]]
    gc.collect()
    loads_before = _json_loads_cpu(bodies)
    if profiler is not None:
        profiler.start()
    server_before, counting_before = transport.server_cpu_s, wire.cpu_s
    wall, cpu = time.perf_counter(), time.process_time()
    response = handler(the_event, LambdaContext(timeout_ms=int(TIMEOUT_S * 1000)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.stop()
    _check(response)
    not_handler = transport.server_cpu_s - server_before + wire.cpu_s - counting_before
    gc.collect()
    return cpu - not_handler, wall, (loads_before + _json_loads_cpu(bodies)) / 2


SERVICES = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs"}  # X-Amz-Target prefixes


class WireCounter:
    """AWS API calls and the DynamoDB items they name, counted from each request as it goes on the wire
    (its ``X-Amz-Target`` header and JSON body), the same way for boto3's clients (botocore's
    ``before-send``) and for the ledger's own DynamoDB client (its ``on_send`` listeners). Items: keys asked
    for by BatchGetItem, GetItem ("read"); actions of TransactWriteItems, requests of BatchWriteItem and
    single-item writes ("written")."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.cpu_s = 0.0  # the counting's own CPU time, subtracted from the handler's
        self._lock = threading.Lock()

    def clear(self) -> None:
        self.calls.clear()
        self.items.clear()

    def attach_boto3(self) -> None:
        """Every client built from boto3's default session from now on."""
        import boto3

        def before_send(request: Any, **_: Any) -> None:
            self.count(request.headers.get("X-Amz-Target"), request.body)

        boto3._get_default_session().events.register("before-send", before_send)

    def attach_ledger(self, db: Any) -> None:
        """The ledger's own DynamoDB client: its ``on_send`` listeners, or (as committed before it had
        them, for ``--code-ref``) its httpx client's request hook. None: boto3's client, counted above."""
        listeners = getattr(db, "on_send", None)
        if isinstance(listeners, list):
            listeners.append(self.count)
        elif isinstance(getattr(db, "http", None), httpx.Client):
            self.attach_httpx(db.http)

    def attach_httpx(self, client: httpx.Client) -> None:
        def hook(request: httpx.Request) -> None:
            self.count(request.headers.get("X-Amz-Target"), request.content)

        client.event_hooks["request"].append(hook)

    def count(self, target: str | bytes | None, body: bytes | str | None) -> None:
        started = time.thread_time()
        with self._lock:
            self._count(target, body)
            self.cpu_s += time.thread_time() - started

    def _count(self, target: str | bytes | None, body: bytes | str | None) -> None:
        if isinstance(target, bytes):
            target = target.decode()
        prefix, _, operation = (target or "unknown.Unknown").partition(".")
        service = SERVICES.get(prefix, prefix)
        self.calls[f"{service}.{operation}"] += 1
        if service == "dynamodb":
            self._items(operation, json.loads(body or b"{}"))

    def _items(self, operation: str, params: Mapping[str, Any]) -> None:
        if operation == "BatchGetItem":
            self.items["read"] += sum(
                len(table.get("Keys", [])) for table in params.get("RequestItems", {}).values()
            )
        elif operation == "GetItem":
            self.items["read"] += 1
        elif operation == "TransactWriteItems":
            self.items["written"] += len(params.get("TransactItems", []))
        elif operation == "BatchWriteItem":
            self.items["written"] += sum(len(r) for r in params.get("RequestItems", {}).values())
        elif operation in {"PutItem", "UpdateItem", "DeleteItem"}:
            self.items["written"] += 1


def _json_loads_cpu(bodies: list[str]) -> float:
    loads = json.loads
    cpu = time.process_time()
    for raw in bodies:
        loads(raw)
    return time.process_time() - cpu


def _check(response: Any) -> None:
    if not isinstance(response, dict) or response.get("batchItemFailures"):
        raise RuntimeError(f"the handler did not apply every update: {str(response)[:300]}")


def _profiler() -> Any:
    from pyinstrument import Profiler

    return Profiler(interval=0.0005, async_mode="disabled")
