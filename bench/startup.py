"""Figure 4, start-up.

Import: a fresh interpreter imports the handler module (``app``: its package, its settings, its logger
and metrics) vs a fresh interpreter importing only the packages it depends on (boto3 with botocore's
Config, httpx, and the Powertools parts it uses: Logger, Metrics, parameters.get_secret). Both run with
the function's environment and its CodeUri first on sys.path, time only the import statement
(perf_counter inside the child, so interpreter start-up is the same on both sides and left out), and
alternate, one warm-up each discarded (it writes the bytecode caches), then the median of ``runs``.

Invocations: fresh execution environments (one process each) run a template-sized event (BatchSize,
default 100) twice; the first pays for the secret fetch and the client set-up, the second is warm.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from bench.environment import REPO_ROOT, Environment
from bench.harness import World
from bench.workload import EventSpec

_TIMED = (
    "import sys, time\n"
    "sys.path.insert(0, {code!r})\n"
    "started = time.perf_counter()\n"
    "{statement}\n"
    "print((time.perf_counter() - started) * 1000)\n"
)
HANDLER_IMPORT = "import app"
DEPENDENCIES_IMPORT = (
    "import boto3; from botocore.config import Config; import httpx; "
    "from aws_lambda_powertools import Logger, Metrics; "
    "from aws_lambda_powertools.utilities.parameters import get_secret"
)


def imports(world: World, runs: int = 7) -> dict[str, Any]:
    env = world.function_env()
    timings: dict[str, list[float]] = {
        "handler": [],
        "dependencies": [],
        "handler_process": [],
        "dependencies_process": [],
    }
    statements = {"handler": HANDLER_IMPORT, "dependencies": DEPENDENCIES_IMPORT}
    for index in range(runs + 1):
        order = ("handler", "dependencies") if index % 2 == 0 else ("dependencies", "handler")
        for name in order:
            code = _TIMED.format(code=str(world.code_uri), statement=statements[name])
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            process_ms = (time.perf_counter() - started) * 1000
            if done.returncode != 0:
                raise RuntimeError(f"import of {name} failed: {done.stderr[-2000:]}")
            if index == 0:
                continue  # warm-up: writes bytecode caches
            timings[name].append(float(done.stdout.strip().splitlines()[-1]))
            timings[f"{name}_process"].append(process_ms)
    handler_ms = statistics.median(timings["handler"])
    dependencies_ms = statistics.median(timings["dependencies"])
    return {
        "import_runs": runs,
        "handler_import_ms": round(handler_ms, 1),
        "dependencies_import_ms": round(dependencies_ms, 1),
        "ratio_to_dependencies": round(handler_ms / dependencies_ms, 3),
        "handler_process_ms": round(statistics.median(timings["handler_process"]), 1),
        "dependencies_process_ms": round(statistics.median(timings["dependencies_process"]), 1),
        "handler_runs_ms": [round(value, 1) for value in timings["handler"]],
        "dependencies_runs_ms": [round(value, 1) for value in timings["dependencies"]],
    }


def invocations(world: World, runs: int = 5, first_update: int = 0) -> dict[str, Any]:
    size = world.settings.batch_size
    world.configure_emulator()
    init, first, warm = [], [], []
    for run in range(runs):
        with Environment(
            world.settings.handler, world.function_env(), world.log_path(f"startup-env{run}"), world.code_uri
        ) as environment:
            init.append(environment.wait_ready()["init_ms"])
            base = first_update + run * 2 * size
            answers = [environment.invoke(EventSpec(base + i * size, size).to_dict()) for i in range(2)]
        if not all(answer.get("ok") and answer["failures"] == 0 for answer in answers):
            raise RuntimeError(f"start-up invocation failed: {answers}")
        first.append(answers[0]["duration_ms"])
        warm.append(answers[1]["duration_ms"])
    return {
        "invocation_runs": runs,
        "event_records": size,
        "init_ms": round(statistics.median(init), 1),
        "first_invocation_ms": round(statistics.median(first), 1),
        "warm_invocation_ms": round(statistics.median(warm), 1),
        "first_runs_ms": [round(value, 1) for value in first],
        "warm_runs_ms": [round(value, 1) for value in warm],
    }
