"""`make run`: the whole pipeline on loopback - moto (SQS, Secrets Manager), the HubSpot emulator, the
real handler in per-slot worker processes fed by a local SQS event source - then a summary and checks.

    make run                                  # events/*.json + 3,000 generated updates
    make run ARGS="--messages 500 --faults throttled"
    make run ARGS="--parameter BatchSize=10 --parameter MaximumBatchingWindowInSeconds=0"
    make run ARGS="--real-hubspot --token-env HUBSPOT_TOKEN --subscription-ids 123,456"
    make run ARGS="--keep"                    # then leave moto and the emulator up for make dlq

Every setting the deployed stack has (batch size, batching window, MaximumConcurrency, maxReceiveCount,
visibility timeout, function timeout, memory, environment) is read from template.yaml. Without
--real-hubspot nothing leaves 127.0.0.1. Exit status: 0 when every check passed, 1 when something was
lost or a check failed, 2 for bad arguments, 130 when interrupted before the checks ran (with --keep,
the Ctrl-C that stops what was kept leaves the run's own status).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from local.aws import template_model
from local.aws.event_source import EventSourceMapping
from local.hubspot_emulator.faults import PROFILES
from local.workload.plan import DEFAULT_MESSAGES, event_files

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_TOKEN = "pat-local-run"  # noqa: S105 - the emulator's own token, loopback only
MAX_SHARDS = 10  # a byQueue RedriveAllowPolicy lists at most 10 source queues


class CliParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2, before anything is started."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The CLI (`make run ARGS="..."`)."""
    parser = CliParser(
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
    group.add_argument(
        "--actor-ratio",
        type=float,
        default=0.02,
        help="generated contacts that also get a HubSpot-side change, before the feed or during it "
        "(default 0.02; 0 turns it off; none against a real portal)",
    )
    group.add_argument(
        "--portals",
        type=int,
        default=1,
        metavar="N",
        help="HubSpot portals in the emulator (default 1): N > 1 spreads the contacts over N portals, "
        "one secret each, the function in multi-portal mode; not with --real-hubspot",
    )
    group.add_argument(
        "--missing-portal-ratio",
        type=float,
        default=0.0,
        help="with --portals > 1, the share of generated messages sent without portalId, which must be "
        "dead-lettered as INVALID_MESSAGE (default 0)",
    )


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
    group.add_argument(
        "--faults",
        default="none",
        choices=sorted(PROFILES),
        metavar="PROFILE",
        help=f"emulator fault profile, one of: {', '.join(sorted(PROFILES))} (docs/emulator.md)",
    )
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
        "--drain-timeout", type=float, default=900.0, help="seconds to wait for the queue to empty (> 0)"
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
        help="run moto without local.aws.moto.speed_up_sqs (slower)",
    )
    group.add_argument("--logs", type=Path, help="keep worker and moto logs in this directory")
    group.add_argument(
        "--keep",
        action="store_true",
        help="after the run, leave moto and the emulator running and print how to reach them "
        "(e.g. for make dlq); Ctrl-C stops them",
    )
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
    _check_ranges(args)
    args.parameters = parameter_pairs(args.parameter, "--parameter")
    _check_parameters(args.template, args.parameters)
    if not args.no_events and not args.real_hubspot and not event_files(args.events):
        raise ValueError(f"--events {args.events!r} matches no file (or pass --no-events)")
    args.env_overrides = parameter_pairs(args.env, "--env")
    args.subscription_id_list = _subscription_ids(args.subscription_ids, real_hubspot=args.real_hubspot)


def _check_ranges(args: argparse.Namespace) -> None:
    for name in ("messages", "concurrency", "shards", "high_water"):
        value = getattr(args, name)
        minimum = 0 if name == "messages" else 1
        if value is not None and value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {minimum}")
    if args.shards > MAX_SHARDS:
        raise ValueError(f"--shards is at most {MAX_SHARDS}")
    if not 0 <= args.poll_wait <= 20:
        raise ValueError("--poll-wait must be within 0..20")
    if not 0 <= args.actor_ratio <= 1:
        raise ValueError("--actor-ratio must be within 0..1")
    _check_portals(args)
    if not args.drain_timeout > 0:
        raise ValueError("--drain-timeout must be > 0")
    if not args.template.is_file():
        raise ValueError(f"--template {args.template}: no such file")


def _check_portals(args: argparse.Namespace) -> None:
    if args.portals < 1:
        raise ValueError("--portals must be >= 1")
    if args.portals > 1 and args.real_hubspot:
        raise ValueError("--portals > 1 needs the emulator: a real run writes to the one portal of its token")
    if not 0 <= args.missing_portal_ratio <= 1:
        raise ValueError("--missing-portal-ratio must be within 0..1")
    if args.missing_portal_ratio and args.portals == 1:
        raise ValueError(
            "--missing-portal-ratio needs --portals > 1 (one portal's messages carry no portalId)"
        )


def _check_parameters(template: Path, parameters: Mapping[str, str]) -> None:
    """The template's own constraints, as CloudFormation checks them at deploy time, and the event
    source mapping's, as Lambda checks them."""
    try:
        settings = template_model.deployment_settings(template, dict(parameters) or None)
        EventSourceMapping(
            queue_url="",
            queue_arn="arn:aws:sqs:us-east-1:123456789012:check",
            batch_size=settings.batch_size,
            batching_window_s=settings.batching_window_s,
            maximum_concurrency=settings.maximum_concurrency,
        )
    except KeyError as exc:
        raise ValueError(f"--parameter: {exc.args[0]}") from None
    except ValueError as exc:
        raise ValueError(f"--parameter: {exc}") from None


def _subscription_ids(raw: str | None, *, real_hubspot: bool) -> tuple[int, ...] | None:
    if raw:
        try:
            return tuple(int(s) for s in raw.split(",") if s.strip())
        except ValueError:
            raise ValueError("--subscription-ids takes comma-separated integers") from None
    if real_hubspot:
        raise ValueError(
            "--real-hubspot needs --subscription-ids (the ids of your portal's subscription types)"
        )
    return None


def parameter_pairs(values: Sequence[str], flag: str) -> dict[str, str]:
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


# --------------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------------
