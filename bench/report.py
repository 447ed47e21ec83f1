"""The run's facts (date, Python, machine) and the table `make bench` prints."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from bench.environment import REPO_ROOT

PACKAGES = ("aws-lambda-powertools", "boto3", "botocore", "httpx", "moto", "matplotlib", "pyinstrument")
LEDGER_CPU_TARGET = 25  # cpu.with_ledger: the ledger on, as deployed (bench/README.md)


def machine_facts() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "git_commit": _git("rev-parse", "HEAD"),
        "function_code_modified": bool(_git("status", "--porcelain", "--", "functions/")),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "cpu model", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met) for every figure in ``results``."""
    out: list[tuple[str, str, str, str]] = []
    calls = results.get("calls")
    if calls:
        ok = calls["function"] <= 100 and calls["ratio"] >= 99
        out.append(
            (
                f"1. HubSpot calls for {calls['updates']:,} updates",
                f"function {calls['function']:,}, baseline {calls['baseline']:,} ({calls['ratio']:g}x fewer); "
                f"wall {calls['function_wall_s']:.2f} s vs {calls['baseline_wall_s']:.1f} s "
                f"(at HubSpot's 190/10 s: >= {calls['function_floor_at_hubspot_limit_s']:g} s vs "
                f">= {calls['baseline_floor_at_hubspot_limit_s']:g} s)",
                "<= 100 calls, >= 99x fewer",
                _yes(ok),
            )
        )
    for run in results.get("saturation", []):
        ok = run["percent_of_bound"] >= 90 and run["percent_429"] <= 1
        out.append(
            (
                f"2. Saturation, {run['concurrency']} environments",
                f"{run['percent_of_bound']:.1f}% of bound ({run['delivered_statuses_per_s']:,.0f} of "
                f"{run['bound_statuses_per_s']:,.0f} statuses/s over {run['windows']} windows); "
                f"{run['percent_429']:.2f}% of {run['calls']} calls 429",
                ">= 90% of bound, <= 1% 429",
                _yes(ok),
            )
        )
    cpu = results.get("cpu")
    if cpu:
        plain = [(size, "") for size in cpu["by_event_size"]]
        plain += [(size, ", check off") for size in cpu.get("check_off", {}).get("by_event_size", [])]
        for size, label in plain:
            out.append(
                (
                    f"3. CPU, {size['records']:,}-record events{label}",
                    f"{size['us_per_message']:.1f} us/message = {size['ratio_to_json_loads']:.1f}x json.loads "
                    f"({size['json_loads_us_per_message']:.2f} us)",
                    "<= 10x json.loads",
                    _yes(size["ratio_to_json_loads"] <= 10),
                )
            )
        ledgered = [(size, "") for size in cpu.get("with_ledger", [])]
        ledgered += [(size, ", check off") for size in cpu.get("with_ledger_check_off", [])]
        for size, label in ledgered:
            calls = ", ".join(
                f"{n:g} {name.split('.')[-1]}" for name, n in size["aws_calls_per_invocation"].items()
            )
            items = size.get("dynamodb_items_per_update", {})
            moved = f"; items per update {items.get('read', 0):g} read, {items.get('written', 0):g} written"
            out.append(
                (
                    f"3. CPU with the ordering ledger on, {size['records']:,}-record events{label}",
                    f"{size['us_per_message']:.0f} us/message = {size['ratio_to_json_loads']:.0f}x json.loads "
                    f"({calls} per invocation{moved if items else ''})",
                    f"<= {LEDGER_CPU_TARGET}x json.loads",
                    _yes(size["ratio_to_json_loads"] <= LEDGER_CPU_TARGET),
                )
            )
    startup = results.get("startup")
    if startup:
        out.append(
            (
                "4. Start-up: import of the handler",
                f"{startup['handler_import_ms']:.0f} ms vs {startup['dependencies_import_ms']:.0f} ms for its "
                f"packages alone = {startup['ratio_to_dependencies']:.3f}x (median of {startup['import_runs']})",
                "<= 1.15x",
                _yes(startup["ratio_to_dependencies"] <= 1.15),
            )
        )
        if "first_invocation_ms" in startup:
            out.append(
                (
                    "4. Start-up: first vs warm invocation",
                    f"{startup['first_invocation_ms']:.0f} ms vs {startup['warm_invocation_ms']:.0f} ms "
                    f"({startup['event_records']} records; Init {startup['init_ms']:.0f} ms)",
                    "reported",
                    "-",
                )
            )
    memory = results.get("memory")
    if memory:
        out.append(
            (
                f"5. Memory, one {memory['records']:,}-record event ({memory['payload_bytes'] / 2**20:.2f} MiB)",
                f"{memory['peak_rss_mb']:.0f} MB peak RSS of {memory['limit_mb']} MB "
                f"({memory['headroom_percent']:.0f}% headroom)",
                f"<= {memory['budget_mb']:.0f} MB (30% headroom)",
                _yes(memory["peak_rss_mb"] <= memory["budget_mb"]),
            )
        )
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| figure | measured | target | met |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows(results)]
    return "\n".join(lines)


def header(facts: dict[str, Any]) -> str:
    return (
        f"{facts['date']}  Python {facts['python']} ({facts['implementation']})  {facts['platform']}\n"
        f"{facts['cpu_model']}, {facts['logical_cpus']} logical CPUs, {facts['memory_gb']} GB; "
        f"load at start {facts['load_average_at_start']}; commit {facts['git_commit'][:12]}"
        + (" (functions/ modified)" if facts["function_code_modified"] else "")
    )
