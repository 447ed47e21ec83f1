"""`make bench`: every performance figure of the status writer, measured side by side in one run.

    .venv/bin/python -m bench.run [--only calls,saturation,cpu,startup,memory,portals] [--saturation-seconds 20]
                                  [--concurrency 2 4] [--code-uri DIR] [--profile]

Prints a table, writes bench/results/latest.json and the saturation plot (docs/bench-saturation.png).
Everything runs on loopback: moto for Secrets Manager and SQS, the project's HubSpot emulator for
HubSpot, and one worker process per Lambda execution environment running the real handler with the
template's default settings. Each figure is a ratio of two things measured in the same run, because
2-core machines are noisy. What each figure means, and the emulator settings behind it, are in each
figure's module docstring and in the README's "Performance" section.

``--code-uri`` benchmarks another copy of the function (e.g. a candidate change) instead of
functions/status_writer; the results then say which code they measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import calls, cpu, freshness, memory, per_contact, portals, saturation, startup
from bench.environment import FUNCTION_CODE_URI, REPO_ROOT
from bench.harness import World, world
from bench.plot import saturation_plot
from bench.report import header, machine_facts, table
from bench.workload import PORTAL_BLOCK
from local.aws.template_model import DEFAULT_TEMPLATE

FIGURES = ("calls", "saturation", "cpu", "startup", "memory", "per_contact", "freshness", "portals")
RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
PLOT = REPO_ROOT / "docs" / "bench-saturation.png"
LOGS = REPO_ROOT / "bench" / "results" / "logs"
# Each figure writes updates of its own, so no two runs ever touch the same (email, subscription).
FIRST_UPDATE = {
    "calls": 0,
    "startup": 100_000,
    "memory": 200_000,
    "cpu": 300_000,
    "saturation": 1_000_000,
    "per_contact": 5_000_000,
    "freshness": 7_000_000,
    "portals": 9_000_000,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated subset of {FIGURES}")
    parser.add_argument("--saturation-seconds", type=float, default=20.0, help="backlog per concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--import-runs", type=int, default=7, help="interleaved runs per import figure")
    parser.add_argument("--code-uri", type=Path, default=FUNCTION_CODE_URI, help="the function's code")
    parser.add_argument(
        "--code-ref",
        help="measure the function and template.yaml as committed at this git ref (e.g. HEAD), not the work tree",
    )
    parser.add_argument(
        "--rate-limit",
        default=f"{saturation.MAX}/{saturation.INTERVAL_MS}",
        help="the saturation figure's emulator limit, MAX/INTERVAL_MS",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--logs", type=Path, default=LOGS, help="handler logs of every environment")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of the CPU figure")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose from {FIGURES}")

    try:
        saturation.MAX, saturation.INTERVAL_MS = (int(part) for part in args.rate_limit.split("/"))
    except ValueError:
        parser.error(f"--rate-limit must look like 19/1000, not {args.rate_limit!r}")

    started = time.monotonic()
    facts = machine_facts()
    with tempfile.TemporaryDirectory(prefix="bench-code-") as scratch:
        template = DEFAULT_TEMPLATE
        if args.code_ref:
            args.code_uri, template = _export(args.code_ref, Path(scratch))
            facts["code_ref"] = args.code_ref
            facts["code_commit"] = _git_output("rev-parse", args.code_ref)
            facts["code_uri"] = f"{args.code_ref}:functions/status_writer"
        else:
            facts["code_uri"] = os.path.relpath(args.code_uri.resolve(), REPO_ROOT)
        print(header(facts), flush=True)
        results: dict[str, Any] = {"run": facts, "settings": settings(args)}
        measure(args, only, results, template)
    if results.get("saturation"):
        note = (
            f"emulator: {saturation.MAX} requests per {saturation.INTERVAL_MS} ms, "
            f"latency {saturation.LATENCY_MS[0]:g}-{saturation.LATENCY_MS[1]:g} ms; "
            f"{saturation.EVENT_RECORDS:,}-record events; {facts['date'][:10]}"
        )
        window_bins = max(1, round(saturation.INTERVAL_MS / 1000 / saturation.BIN_S))
        skipped = saturation_plot(results["saturation"], args.plot, note, window_bins)
        results["plot"] = None if skipped else os.path.relpath(args.plot.resolve(), REPO_ROOT)
        if skipped:
            print(f"plot skipped: {skipped}", flush=True)
    results["run"]["duration_s"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    rows = [*per_contact.table_rows(results), *freshness.table_rows(results), *portals.table_rows(results)]
    print("\n".join([table(results), *rows]))
    print(f"\nwritten: {args.output}" + (f", {args.plot}" if results.get("plot") else ""))
    print(f"took {results['run']['duration_s']:.0f} s; handler logs in {args.logs}")
    return 0


def _export(ref: str, into: Path) -> tuple[Path, Path]:
    """The function's code and the template as committed at ``ref``."""
    archive = subprocess.run(
        ["git", "archive", ref, "functions/status_writer", "template.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "functions" / "status_writer", into / "template.yaml"


def _git_output(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()


def measure(args: argparse.Namespace, only: list[str], results: dict[str, Any], template: Path) -> None:
    """Run the chosen figures in one world (moto + emulator), in a fixed order."""
    if args.logs.is_dir():  # this run's logs only
        for old in args.logs.glob("*.log"):
            old.unlink()
    with world(args.logs, args.code_uri.resolve(), template) as bench_world:
        if "calls" in only:
            _step("calls: 10,000 updates, function vs per-record baseline")
            results["calls"] = calls.run(bench_world, first_update=FIRST_UPDATE["calls"])
        if "saturation" in only:
            results["saturation"] = _saturation(bench_world, args)
        if "cpu" in only:
            _step("cpu: handler vs json.loads, in-process transport")
            results["cpu"] = cpu.run(bench_world, FIRST_UPDATE["cpu"], profile=args.profile)
        if "startup" in only:
            _step("startup: import of the handler vs its packages; first vs warm invocation")
            results["startup"] = {
                **startup.imports(bench_world, args.import_runs),
                **startup.invocations(bench_world, first_update=FIRST_UPDATE["startup"]),
            }
        if "memory" in only:
            _step("memory: one 10,000-record event near the 6 MB payload limit")
            results["memory"] = memory.run(bench_world, FIRST_UPDATE["memory"])
        for name, figure in (("per_contact", _per_contact), ("freshness", _freshness), ("portals", _portals)):
            if name in only:
                results[name] = figure(bench_world, args)


def _per_contact(bench_world: World, args: argparse.Namespace) -> list[dict[str, Any]]:
    _step("per_contact: a portal without the batch scopes, one status a call")
    return [
        per_contact.run(bench_world, c, args.saturation_seconds, FIRST_UPDATE["per_contact"] + i * 100_000)
        for i, c in enumerate(per_contact.CONCURRENCY)
    ]


def _saturation(bench_world: World, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for index, concurrency in enumerate(args.concurrency):
        _step(f"saturation: {concurrency} environments, {args.saturation_seconds:g} s of backlog")
        first = FIRST_UPDATE["saturation"] + index * 1_000_000
        runs.append(saturation.run(bench_world, concurrency, args.saturation_seconds, first))
    return runs


def _freshness(bench_world: World, args: argparse.Namespace) -> dict[str, Any]:
    """Figure 7: the freshness check's calls, its no-op share, and saturation with it on."""
    first = FIRST_UPDATE["freshness"]
    _step("freshness: 10,000 updates with the check all / subscribed / off")
    figures: dict[str, Any] = {"calls": freshness.calls(bench_world, first)}
    _step("freshness: the same with 30% of the states already in HubSpot")
    figures["no_op"] = freshness.no_op(bench_world, first + 100_000)
    figures["saturation"] = []
    for index, concurrency in enumerate(args.concurrency):
        _step(f"freshness: saturation with the check all, {concurrency} environments")
        start = first + 200_000 + index * 100_000
        figures["saturation"].append(
            freshness.saturation_run(bench_world, concurrency, args.saturation_seconds, start)
        )
    return figures


def _portals(bench_world: World, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Figure 8: three portals at a third of HubSpot's limit each, then with one of them at a tenth of it."""
    runs = []
    for index, scenario in enumerate(portals.SCENARIOS):
        _step(
            f"portals: {len(portals.PORTALS)} portals, {scenario}, {args.saturation_seconds:g} s of backlog"
        )
        first = FIRST_UPDATE["portals"] + index * 500_000
        runs.append(portals.run(bench_world, scenario, args.saturation_seconds, first))
    return runs


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The emulator settings behind each figure (also in bench/README.md)."""
    return {
        "function": "template.yaml defaults (BatchSize 100, HUBSPOT_MAX_IN_FLIGHT 4, FunctionMemoryMB 256)",
        "ordering_ledger": "off (VERSION_TABLE_NAME empty) except cpu.with_ledger; see bench/README.md",
        "calls": {"latency_ms": 0, "rate_limit": "off", "events": "10 x 1,000 records"},
        "saturation": {
            "rate_limit_max": saturation.MAX,
            "rate_limit_interval_ms": saturation.INTERVAL_MS,
            "latency_ms": list(saturation.LATENCY_MS),
            "event_records": saturation.EVENT_RECORDS,
            "backlog_seconds": args.saturation_seconds,
            "concurrency": args.concurrency,
            "bound_statuses_per_s": saturation.bound_statuses_per_s(),
        },
        "cpu": {
            "transport": "in-process replay of the emulator's answers (no network, no server)",
            "event_records": [size for size, _ in cpu.SIZES],
            "with_ledger_event_records": [size for size, _ in cpu.LEDGER_SIZES],
        },
        "startup": {"import_runs": args.import_runs, "latency_ms": 0, "rate_limit": "off"},
        "memory": {"records": memory.RECORDS, "latency_ms": 0, "rate_limit": "off"},
        "freshness_check": "off in calls, saturation and per_contact (their targets count writes); "
        "the template's default elsewhere; all / subscribed / off in freshness",
        "freshness": {
            "calls": {"latency_ms": 0, "rate_limit": "off", "events": "10 x 1,000 records"},
            "no_op": {"seeded_same_state_percent": freshness.NO_OP_PERCENT, "seeded_at": freshness.SEEDED_AT},
            "saturation": {"mode": freshness.SATURATION_MODE, "as": "saturation"},
        },
        "portals": {
            "portals": list(portals.PORTALS),
            "concurrency": portals.CONCURRENCY,
            "rate_limit_max": portals.PORTAL_MAX,
            "rate_limit_interval_ms": portals.PORTAL_INTERVAL_MS,
            "rate_limit": "a third of HubSpot's Max over its 10 s window, per portal; "
            f"one_throttled: the last portal's Max {portals.THROTTLE_FACTOR}x smaller",
            "latency_ms": list(saturation.LATENCY_MS),
            "freshness_check": "off",
            "backlog_seconds": args.saturation_seconds * portals.BACKLOG_FACTOR,
            "one_throttled_stop_after_s": portals.THROTTLED_STOP_S,
            "updates_per_portal_block": PORTAL_BLOCK,
        },
    }


def _step(text: str) -> None:
    print(f"- {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
