"""`python -m local.hubspot_emulator --host 127.0.0.1 --port PORT --token TOKEN ...`

Prints exactly one line, `listening on http://HOST:PORT`, to stdout once the port is bound, then serves
until SIGINT or SIGTERM. `--port 0` picks a free port.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.faults import PROFILES, Faults, profile
from local.hubspot_emulator.portals import PortalSpec, parse_portal_id
from local.hubspot_emulator.server import Emulator

# flag dest → EmulatorConfig field, for the flags that map one-to-one
_CONFIG_FLAGS = (
    "batch_limit",
    "rate_limit_max",
    "rate_limit_interval_ms",
    "daily_limit",
    "retry_after_seconds",
    "strict",
    "gdpr_enabled",
    "partial_status_code",
    "oauth_response_style",
    "max_body_bytes",
    "portal_id",
)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m local.hubspot_emulator",
        description="Local HubSpot Communication Preferences emulator (v4, 2026-03, 2026-09; dev only).",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port; 0 picks a free one (default 8090)")
    p.add_argument(
        "--token", action="append", default=[], help="private-app token with every scope (repeatable)"
    )
    p.add_argument(
        "--no-batch-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="private-app token without the batch scopes (a portal on a lower tier; repeatable)",
    )
    p.add_argument(
        "--service-key", action="append", default=[], metavar="TOKEN", help="Service Key with every scope"
    )
    p.add_argument(
        "--retire-version",
        action="append",
        default=[],
        metavar="VERSION",
        help="answer this API version (v4, 2026-03, 2026-09) as an unknown path (repeatable)",
    )
    p.add_argument(
        "--oauth-app",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET:REFRESH_TOKEN[:TTL_S]",
        help="register an OAuth app with every scope (repeatable)",
    )
    p.add_argument(
        "--portal",
        action="append",
        default=[],
        metavar="ID:TOKEN[,TOKEN...]",
        help="serve one more portal with these private-app tokens (repeatable; docs/emulator.md, Several portals)",
    )
    p.add_argument("--config", metavar="JSON|@FILE", help="EmulatorConfig as JSON (flags below override it)")
    p.add_argument("--batch-limit", type=int, dest="batch_limit")
    p.add_argument("--rate-limit-max", type=int, dest="rate_limit_max")
    p.add_argument("--rate-limit-interval-ms", type=int, dest="rate_limit_interval_ms")
    p.add_argument("--daily-limit", type=int, dest="daily_limit")
    p.add_argument("--retry-after", type=int, dest="retry_after_seconds", help="send Retry-After: N on 429s")
    p.add_argument(
        "--strict", action=argparse.BooleanOptionalAction, default=None, help="reject unknown fields"
    )
    p.add_argument(
        "--gdpr", action="store_true", default=None, dest="gdpr_enabled", help="require legal basis"
    )
    p.add_argument("--partial-status-code", type=int, choices=(200, 207), dest="partial_status_code")
    p.add_argument("--error-context-keys", metavar="EMAIL_KEY[,SUBSCRIPTION_KEY]")
    p.add_argument("--oauth-response-style", choices=("snake", "camel"), dest="oauth_response_style")
    p.add_argument("--max-body-bytes", type=int, dest="max_body_bytes")
    p.add_argument("--portal-id", type=int, dest="portal_id")
    faults = p.add_mutually_exclusive_group()
    faults.add_argument("--faults", metavar="JSON|@FILE", help="Faults profile as JSON")
    faults.add_argument("--fault-profile", choices=sorted(PROFILES), help="a named fault profile")
    p.add_argument("--verbose", action="store_true", help="log each request line to stderr")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """EmulatorConfig from `--config` plus the individual flags."""
    values: dict[str, Any] = _json_arg(args.config) if args.config else {}
    for name in _CONFIG_FLAGS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.retire_version:
        values["retired_versions"] = list(args.retire_version)
    if args.error_context_keys:
        values["error_context_keys"] = [k.strip() for k in args.error_context_keys.split(",") if k.strip()]
    return EmulatorConfig.from_dict(values)


def faults_from_args(args: argparse.Namespace) -> Faults:
    """Faults from `--faults` or `--fault-profile` (default: none)."""
    if args.faults:
        return Faults.from_dict(_json_arg(args.faults))
    return profile(args.fault_profile or "none")


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; 2 on a bad command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        faults = faults_from_args(args)
        emulator = Emulator(
            config, tokens=args.token, faults=faults, host=args.host, port=args.port, verbose=args.verbose
        )
        for spec in args.portal:
            emulator.add_portal(portal_spec(spec))
        for token in args.no_batch_token:
            emulator.add_private_app_token(token, profile="no-batch")
        for token in args.service_key:
            emulator.add_service_key(token)
        for spec in args.oauth_app:
            parts = spec.split(":")
            if len(parts) not in (3, 4):
                raise ValueError(f"--oauth-app expects CLIENT_ID:SECRET:REFRESH_TOKEN[:TTL_S], got {spec!r}")
            ttl = float(parts[3]) if len(parts) == 4 else 1800.0
            emulator.add_oauth_app(parts[0], parts[1], parts[2], None, ttl)
    except (ValueError, TypeError, OSError) as err:
        parser.error(str(err))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        emulator.start()
    except OSError as err:
        print(f"cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    print(f"listening on {emulator.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


def portal_spec(value: str) -> PortalSpec:
    """`--portal ID:TOKEN[,TOKEN...]` as a PortalSpec."""
    raw_id, sep, raw_tokens = value.partition(":")
    tokens = tuple(t for t in raw_tokens.split(",") if t)
    if not sep or not tokens:
        raise ValueError(f"--portal expects ID:TOKEN[,TOKEN...], got {value!r:.60}")
    return PortalSpec(parse_portal_id(raw_id), tokens)


def _json_arg(value: str) -> dict[str, Any]:
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


if __name__ == "__main__":
    sys.exit(main())
