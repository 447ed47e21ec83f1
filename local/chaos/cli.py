"""`make chaos`'s settings: the simulated function and queue limits, the profiles, the command line."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_MESSAGES = 10_000
MAX_PORTALS = 8  # PORTALS_IN_FLIGHT: the portals one invocation delivers side by side (README, Many portals)
LOCAL_TOKEN = "pat-local-run"  # noqa: S105 - the emulator's own token, loopback only
FUNCTION_TIMEOUT_S = 30.0  # FunctionTimeoutSeconds: the smallest value the template allows
VISIBILITY_TIMEOUT_S = 45  # > the function timeout, so a crashed batch is back in 45 s, not 480 s
TINY_BUDGET_S = 4.0  # "almost no time left": less than connect + read + the handler's 5 s margin
ENV_OVERRIDES = {
    "RETRY_BACKOFF_BASE_SECONDS": "1",
    "RETRY_BACKOFF_MAX_SECONDS": "4",
    "HUBSPOT_CONNECT_TIMEOUT_SECONDS": "1",
    "HUBSPOT_READ_TIMEOUT_SECONDS": "2",
}
# With several portals each portal has its own faults on top of the shared windows (the revoked
# portal is refused for 14% of every cycle more), and the run's 1-4 s backoff, compressed 30 times from
# the template's 30-900 s, let 10 receives pass within one 40 s cycle: valid messages were redriven by
# SQS. A longer cap keeps 10 receives longer than a cycle, as the template's keeps them for hours.
PORTALS_ENV_OVERRIDES = {"RETRY_BACKOFF_MAX_SECONDS": "8"}
PARAMETER_OVERRIDES = {"DailyLimitRetrySeconds": "3", "MaximumBatchingWindowInSeconds": "1"}
PROFILES: dict[str, dict[str, Any]] = {
    # 10,000 messages, BatchSize as deployed (100): about five minutes on 2 cores
    "full": {
        "messages": DEFAULT_MESSAGES,
        "cycle_s": 40.0,
        "kill_rate": 0.02,
        "tiny_rate": 0.02,
        "hostile_rate": 0.25,
        "min_faults_s": 0.0,
        "actor_ratio": 0.03,
    },
    # make test: a few hundred messages in batches of 10 (so enough invocations meet every window),
    # two fault cycles, about 140 s alone on 2 cores
    "small": {
        "messages": 400,
        "cycle_s": 12.0,
        "kill_rate": 0.1,
        "tiny_rate": 0.1,
        "hostile_rate": 0.6,  # short windows, few calls: a higher share so each window meets some
        "min_faults_s": 24.0,
        "actor_ratio": 0.1,  # about 40 contacts: a few HubSpot-side changes
        "parameters": {"BatchSize": "10"},
    },
}
# Workers run the template's handler behind local.chaos.lambda_logging (the Lambda runtime's root logger)
RUNTIME_HANDLER = "local.chaos.lambda_logging.handler"
WRAPPED_HANDLER = "LOCAL_CHAOS_TEMPLATE_HANDLER"  # the template's Handler, e.g. app.handler
HANG_S = 4.0  # past the 2 s read timeout
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


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
    add(
        "--portals",
        type=int,
        default=1,
        metavar="N",
        help="HubSpot portals (default 1): N > 1 spreads the contacts over N portals, one secret each, the "
        "function in multi-portal mode; one portal's token is revoked for a window of every cycle, another "
        "has a tenth of the rate limit (local.chaos.portals)",
    )
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
    add(
        "--hostile-rate",
        type=float,
        help="share of HubSpot calls a hostile window answers in one of its shapes (full 0.25, small 0.6)",
    )
    add("--poison-ratio", type=float, default=0.02, help="poison bodies (README: Reliability)")
    add("--late-ratio", type=float, default=0.03, help="older updates sent after the newer ones")
    add("--resend-ratio", type=float, default=0.03, help="messages sent a second time, later")
    add("--unsubscribe-all-ratio", type=float, default=0.2, help="addresses that also get an unsubscribe-all")
    add(
        "--actor-ratio",
        type=float,
        help="contacts that also get a HubSpot-side change (full 0.03, small 0.1; 0 turns it off)",
    )
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
    if not 0 <= args.actor_ratio <= 1:
        parser.error("--actor-ratio must be within 0..1")
    if args.messages < 1 or args.shards < 1 or args.concurrency < args.shards or args.shards > 10:
        parser.error("--messages >= 1, 1 <= --shards <= 10, --concurrency >= --shards")
    if not 1 <= args.portals <= MAX_PORTALS:
        parser.error(f"--portals must be within 1..{MAX_PORTALS}")
    return args
