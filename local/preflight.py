"""Check a HubSpot portal before the first real message, writing nothing (README: Check your portal first).

    python -m local.preflight --real-hubspot --token-env HUBSPOT_TOKEN --subscription-ids 123,456
    python -m local.preflight --hubspot-url http://127.0.0.1:8090 --token-env TOKEN --subscription-ids 1001
    make run ARGS="--real-hubspot --dry-run --token-env HUBSPOT_TOKEN --subscription-ids 123,456"

It answers: does the token authenticate; does the configured API version answer; does each subscription
id exist (name, brand, active); which scopes work (batch read and write, per contact); what the
rate-limit headers allow in batch and in per-contact mode; and whether a legal basis is required (it
cannot be told without a write, and the table says so). It prints a verdict table and exits 1 when the
deployment would not work, 0 when it would, 2 for bad arguments.

How it tells a write scope without writing: HubSpot checks the token's scopes before it reads the
request, so each write route gets a request that can never be applied (an empty ``inputs`` list; a
per-contact call for an address that is not one, with an empty body or an unknown channel). A 403
``MISSING_SCOPES`` means the scope is missing; a 400 validation error means it is granted and nothing
happened. Every other call is a read (``GET definitions``). The token is never printed.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

FUNCTION_DIR = Path(__file__).resolve().parents[1] / "functions" / "status_writer"
if str(FUNCTION_DIR) not in sys.path:  # the function's own paths, so both always agree
    sys.path.insert(0, str(FUNCTION_DIR))

from status_writer.routes import API_VERSIONS, DEFAULT_API_VERSION, ApiPaths  # noqa: E402

REAL_HUBSPOT = "https://api.hubapi.com"
BATCH_LIMIT = 100  # inputs per batch call (README: Configuration, HUBSPOT_BATCH_LIMIT)
NOT_AN_ADDRESS = "preflight-not-an-address"  # a subscriber no write can ever apply to
NOT_A_CHANNEL = "PREFLIGHT_NOT_A_CHANNEL"
PASS, WARN, FAIL, INFO = "ok", "warn", "FAIL", "info"


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the verdict table."""

    name: str
    verdict: str
    detail: str


@dataclass(frozen=True, slots=True)
class Call:
    """One call made: a read, or a write-route request HubSpot must refuse."""

    kind: str
    method: str
    path: str
    status: int | None


@dataclass
class Report:
    """Every check, and every call made, to show none wrote."""

    checks: list[Check] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.verdict != FAIL for check in self.checks)

    def add(self, name: str, verdict: str, detail: str) -> None:
        self.checks.append(Check(name, verdict, detail))


@dataclass(frozen=True, slots=True)
class Probe:
    """One answer: status (None when the call failed), JSON body, rate-limit headers."""

    status: int | None
    body: Any
    headers: Mapping[str, str]
    error: str = ""


class Portal:
    """The calls the preflight makes; each is a read or a request HubSpot must reject."""

    def __init__(self, http: httpx.Client, paths: ApiPaths) -> None:
        self._http = http
        self.paths = paths
        self.report = Report()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        refused_write: bool = False,
    ) -> Probe:
        """One call; ``refused_write`` marks a write-route request built so HubSpot cannot apply it."""
        kind = "refused-write" if refused_write else "read"
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.HTTPError as error:
            self.report.calls.append(Call(kind, method, path, None))
            return Probe(None, None, {}, f"{type(error).__name__}")
        self.report.calls.append(Call(kind, method, path, response.status_code))
        try:
            body = response.json()
        except ValueError:
            body = None
        return Probe(response.status_code, body, dict(response.headers))


def run_checks(portal: Portal, subscription_ids: Sequence[int]) -> Report:
    """Every check against one portal, in order; later checks still run when one fails."""
    report = portal.report
    paths = portal.paths
    definitions = portal.call("GET", paths.definitions)
    _authentication(report, definitions)
    _version(report, paths, definitions)
    _subscriptions(report, definitions, subscription_ids)
    scopes = _scopes(report, portal)
    _rate_limits(report, definitions, scopes)
    report.add(
        "legal basis",
        INFO,
        "cannot be told without a write (the API exposes no GDPR setting); if the portal has data-privacy "
        "settings on, send legalBasis and legalBasisExplanation in every message",
    )
    return report


def _authentication(report: Report, answer: Probe) -> None:
    if answer.status is None:
        report.add("token authenticates", FAIL, f"HubSpot did not answer ({answer.error})")
    elif answer.status == 401:
        report.add("token authenticates", FAIL, f"401 {_message(answer)}")
    else:
        report.add("token authenticates", PASS, f"HTTP {answer.status} on GET definitions")


def _version(report: Report, paths: ApiPaths, answer: Probe) -> None:
    name = f"API version {paths.version}"
    if answer.status == 401:
        report.add(name, WARN, "cannot tell before the token authenticates")
    elif answer.status == 404:
        report.add(
            name, FAIL, f"{paths.definitions} is unknown to the portal (retired?); try another version"
        )
    elif answer.status is None or answer.status >= 500:
        report.add(name, FAIL, "no answer to tell")
    else:
        report.add(name, PASS, f"{paths.prefix}/... answers")


def _subscriptions(report: Report, answer: Probe, wanted: Sequence[int]) -> None:
    if answer.status != 200 or not isinstance(answer.body, Mapping):
        verdict = WARN if answer.status == 403 else FAIL
        reason = (
            "the token lacks communication_preferences.read" if answer.status == 403 else "no definitions"
        )
        for subscription_id in wanted:
            report.add(f"subscription {subscription_id}", verdict, f"cannot check: {reason}")
        return
    results = answer.body.get("results")
    found = (
        {str(item.get("id")): item for item in results if isinstance(item, Mapping)}
        if isinstance(results, list)
        else {}
    )
    for subscription_id in wanted:
        item = found.get(str(subscription_id))
        name = f"subscription {subscription_id}"
        if item is None:
            report.add(name, FAIL, "not among the portal's subscription definitions")
            continue
        detail = f"{item.get('name')!s:.60} (brand {item.get('businessUnitId', 0)})"
        if item.get("isActive") is False:
            report.add(name, FAIL, f"{detail}: not active, writes to it are refused")
        else:
            report.add(name, PASS, f"{detail}, active")


@dataclass(frozen=True, slots=True)
class Scopes:
    batch_write: bool
    contact_write: bool


def _scopes(report: Report, portal: Portal) -> Scopes:
    paths = portal.paths
    email = {"channel": "EMAIL"}
    batch_read = _granted(portal.call("POST", paths.batch_read, params=email, json={"inputs": []}))
    batch_write = _granted(portal.call("POST", paths.batch_write, json={"inputs": []}, refused_write=True))
    batch_unsubscribe = _granted(
        portal.call(
            "POST", paths.batch_unsubscribe_all, params=email, json={"inputs": []}, refused_write=True
        )
    )
    contact_write = _granted(
        portal.call("POST", paths.contact_status(NOT_AN_ADDRESS), json={}, refused_write=True)
    )
    contact_unsubscribe = _granted(
        portal.call(
            "POST",
            paths.contact_unsubscribe_all(NOT_AN_ADDRESS),
            params={"channel": NOT_A_CHANNEL},
            refused_write=True,
        )
    )
    batch = _both(batch_write, batch_unsubscribe)
    contact = _both(contact_write, contact_unsubscribe)
    _scope_row(report, "scope: batch read", batch_read, optional=True)
    _scope_row(report, "scope: batch write", batch, optional=True)
    _scope_row(report, "scope: per-contact write", contact, optional=False)
    if batch:
        mode = "batch (HubSpotBatchMode=auto uses the batch endpoints)"
    elif contact:
        mode = "per contact: auto mode switches after the first 403, or set HubSpotBatchMode=per-contact"
    elif batch is None and contact is None:
        mode = "cannot tell which route the token can write through"
    else:
        mode = "none: the token can write through neither route"
    report.add("write mode", PASS if batch or contact else FAIL, mode)
    return Scopes(batch is True, contact is True)


def _both(first: bool | None, second: bool | None) -> bool | None:
    """Both routes of a kind granted (True), one refused (False), or not known."""
    if first is False or second is False:
        return False
    return True if first and second else None


def _granted(answer: Probe) -> bool | None:
    """True: past the scope check (400/200); False: 403 MISSING_SCOPES; None: cannot tell."""
    if answer.status == 403:
        return False
    if answer.status in (200, 207, 400):
        return True
    return None


def _scope_row(report: Report, name: str, granted: bool | None, *, optional: bool) -> None:
    if granted is None:
        report.add(name, WARN, "cannot tell (no answer, or an unexpected status)")
    elif granted:
        report.add(name, PASS, "granted (the request was refused at validation; nothing written)")
    else:
        report.add(name, WARN if optional else FAIL, "missing (403 MISSING_SCOPES)")


def _rate_limits(report: Report, answer: Probe, scopes: Scopes) -> None:
    headers = {key.lower(): value for key, value in answer.headers.items()}
    maximum = _number(headers.get("x-hubspot-ratelimit-max"))
    interval_ms = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    daily = _number(headers.get("x-hubspot-ratelimit-daily"))
    if maximum is None or not interval_ms:
        report.add(
            "rate limit", WARN, "no X-HubSpot-RateLimit-Max/-Interval headers; the function paces blind"
        )
        return
    per_s = maximum / (interval_ms / 1000)
    report.add(
        "rate limit", INFO, f"{maximum:,.0f} requests per {interval_ms / 1000:g} s = {per_s:g} calls/s"
    )
    daily_text = (
        f"; daily limit {daily:,.0f} requests"
        if daily is not None
        else "; no daily limit reported (OAuth app?)"
    )
    report.add(
        "throughput: batch",
        INFO if scopes.batch_write else WARN,
        f"up to {per_s * BATCH_LIMIT:,.0f} contacts/s ({BATCH_LIMIT} a call){daily_text}"
        + ("" if scopes.batch_write else "; not available: batch scopes missing"),
    )
    report.add(
        "throughput: per contact",
        INFO,
        f"up to {per_s:g} contacts/s (1 a call)"
        + (f"; at most {daily:,.0f} contacts a day" if daily is not None else ""),
    )


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(answer: Probe) -> str:
    if isinstance(answer.body, Mapping):
        return f"{answer.body.get('category', '')}: {answer.body.get('message', '')}"[:200]
    return "(no JSON body)"


def print_report(report: Report, out: TextIO) -> None:
    """The verdict table, then what was called, then the verdict."""
    width = max(len(check.name) for check in report.checks)
    out.write(f"{'check'.ljust(width)}  verdict  detail\n")
    for check in report.checks:
        out.write(f"{check.name.ljust(width)}  {check.verdict.ljust(7)}  {check.detail}\n")
    reads = sum(1 for call in report.calls if call.kind == "read")
    refused = [call for call in report.calls if call.kind != "read"]
    accepted = [call for call in refused if call.status is not None and 200 <= call.status < 300]
    out.write(
        f"\n{len(report.calls)} calls: {reads} reads, {len(refused)} write-route calls with empty or "
        "invalid input, which no portal can apply; nothing was written.\n"
    )
    if accepted:  # an empty input list answered 2xx: still nothing to write, but say so
        out.write(f"note: {len(accepted)} of them answered 2xx instead of a validation error\n")
    out.write(
        "verdict: the deployment would work\n" if report.ok else "verdict: the deployment would NOT work\n"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.preflight", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--real-hubspot", action="store_true", help=f"check the portal behind {REAL_HUBSPOT}")
    target.add_argument("--hubspot-url", help="API base URL (https, or http to a loopback host)")
    parser.add_argument("--token-env", default="HUBSPOT_TOKEN", help="environment variable holding the token")
    parser.add_argument("--subscription-ids", required=True, help="comma-separated subscription ids")
    parser.add_argument("--api-version", default=DEFAULT_API_VERSION, choices=API_VERSIONS)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)  # from `make run`
    return parser.parse_args(argv)


def _base_url(args: argparse.Namespace) -> str:
    url = REAL_HUBSPOT if args.real_hubspot else str(args.hubspot_url).rstrip("/")
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost" or _is_loopback_ip(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"{url!r}: https only (plain http only to a loopback host), so the token stays safe")
    return url


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point: 0 the deployment would work, 1 it would not, 2 bad arguments."""
    out = out or sys.stdout
    args = parse_args(argv)
    try:
        base_url = _base_url(args)
        ids = [int(part) for part in args.subscription_ids.split(",") if part.strip()]
        if not ids:
            raise ValueError("--subscription-ids names no id")
    except ValueError as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 2
    token = os.environ.get(args.token_env, "").strip()
    if not token:
        print(f"preflight: ${args.token_env} is empty", file=sys.stderr)
        return 2
    out.write(
        f"preflight of {base_url}, API version {args.api_version}: read calls only (write routes get "
        "requests HubSpot must refuse), nothing is written\n\n"
    )
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    timeout = httpx.Timeout(args.timeout)
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False) as http:
        report = run_checks(Portal(http, ApiPaths(args.api_version)), ids)
    print_report(report, out)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
