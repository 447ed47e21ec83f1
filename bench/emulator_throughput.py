"""Emulator throughput: one keep-alive `httpx.Client` posting 100-item batch/write bodies.

By default the emulator runs as its own process (started with the documented CLI), so client and server
do not share a GIL, as in a real local run. `--in-process` runs it as a thread instead, for comparison.

The same client, bodies and response bytes also go to a stdlib server that does no work at all (it
returns the emulator's own response bytes), in alternating rounds: that is the client's floor on this
machine at this moment. Absolute figures on a shared 2-core VM swing with load; the emulator's share of
the floor swings much less. Prints requests/s, records/s, p50/p99 latency and that share; `--json` prints one JSON object.

    .venv/bin/python -m bench.emulator_throughput [--requests 2000] [--batch 100] [--rounds 8]
                                                  [--in-process] [--legal-basis] [--no-baseline] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "pat-na1-bench"  # noqa: S105 - a dummy token for a loopback emulator
WRITE_PATH = "/communication-preferences/v4/statuses/batch/write"
# the bench measures the server, not the rate limiter: make both limits unreachable
CONTACTS = 20_000
NO_LIMITS: dict[str, Any] = {"rate_limit_max": 1_000_000_000, "daily_limit": 1_000_000_000}


def batch_body(request_no: int, size: int, legal_basis: bool = False) -> dict[str, Any]:
    """A valid batch/write body over a portal of `CONTACTS` contacts, so the store grows to that size
    and later writes hit existing statuses (changes and no-changes both occur)."""
    states = ("SUBSCRIBED", "UNSUBSCRIBED")
    inputs: list[dict[str, Any]] = []
    for i in range(size):
        contact = (request_no * size + i) % CONTACTS
        item: dict[str, Any] = {
            "subscriberIdString": f"user{contact}@example.com",
            "subscriptionId": 1001 + i % 3,
            "channel": "EMAIL",
            "statusState": states[(request_no // 3 + i) % 2],
        }
        if legal_basis:
            item["legalBasis"] = "CONSENT_WITH_NOTICE"
            item["legalBasisExplanation"] = "Opted in via signup form"
        inputs.append(item)
    return {"inputs": inputs}


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    """The emulator CLI in a subprocess on a free port; yields its base URL."""
    cmd = [
        sys.executable,
        "-m",
        "local.hubspot_emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--config",
        json.dumps(NO_LIMITS),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"emulator did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# A server that does nothing but answer every POST with fixed bytes: the client's floor.
CANNED_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = open(sys.argv[1], "rb").read()
HEAD = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(BODY)
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.wfile.write(HEAD + BODY)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def canned_server(response: bytes) -> Iterator[str]:
    """The do-nothing server in a subprocess, answering with `response`; yields its base URL."""
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(response)
        body_file.flush()
        proc = subprocess.Popen(
            [sys.executable, "-c", CANNED_SERVER, body_file.name], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            yield proc.stdout.readline().strip().removeprefix("listening on ")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@contextlib.contextmanager
def emulator_thread() -> Iterator[str]:
    """The emulator as a thread of this process; yields its base URL."""
    sys.path.insert(0, str(ROOT))
    from local.hubspot_emulator import EmulatorConfig, running_emulator

    with running_emulator(EmulatorConfig(**NO_LIMITS), tokens=[TOKEN]) as emu:
        yield emu.base_url


class Timings:
    """Latencies and busy time of one target, accumulated over rounds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.elapsed = 0.0

    def figures(self, batch: int) -> dict[str, Any]:
        """requests/s, records/s, p50 and p99 over everything recorded."""
        ordered = sorted(self.latencies)
        count = len(ordered)
        return {
            "requests": count,
            "elapsed_s": round(self.elapsed, 3),
            "requests_per_s": round(count / self.elapsed, 1),
            "records_per_s": round(count * batch / self.elapsed),
            "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[max(0, int(count * 0.99) - 1)] * 1000, 3),
        }


def post_all(client: httpx.Client, bodies: list[dict[str, Any]], timings: Timings | None) -> bytes:
    """Post each body; every answer must be a 200 with one result per input. Returns the last answer."""
    last = b""
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        last = _check(client.post(WRITE_PATH, json=body), len(body["inputs"]))
        if timings is not None:
            timings.latencies.append(time.perf_counter() - t0)
    if timings is not None:
        timings.elapsed += time.perf_counter() - started
    return last


def _check(response: httpx.Response, batch: int) -> bytes:
    if response.status_code != 200 or len(response.json()["results"]) != batch:
        raise RuntimeError(f"unexpected response {response.status_code}: {response.text[:300]}")
    return response.content


def _client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then alternate rounds between the emulator and the do-nothing server, so that load
    changes on a shared machine hit both alike."""
    bodies = [batch_body(n, args.batch, args.legal_basis) for n in range(args.warmup + args.requests)]
    warmup, timed = bodies[: args.warmup], bodies[args.warmup :]
    rounds = max(1, args.rounds)
    chunks = [timed[i::rounds] for i in range(rounds)]
    emulator, floor = Timings(), Timings()
    runner = emulator_thread if args.in_process else emulator_process
    with contextlib.ExitStack() as stack:
        emu_client = stack.enter_context(_client(stack.enter_context(runner())))
        response = post_all(emu_client, warmup, None)
        floor_client = None
        if not args.no_baseline:
            floor_client = stack.enter_context(_client(stack.enter_context(canned_server(response))))
            post_all(floor_client, warmup, None)
        for chunk in chunks:
            post_all(emu_client, chunk, emulator)
            if floor_client is not None:
                post_all(floor_client, chunk, floor)
    result = emulator.figures(args.batch)
    result.update(
        batch_size=args.batch,
        mode="in-process" if args.in_process else "subprocess",
        legal_basis=args.legal_basis,
        response_bytes=len(response),
        rounds=rounds,
    )
    if floor.latencies:
        result["floor_requests_per_s"] = floor.figures(args.batch)["requests_per_s"]
        result["share_of_floor"] = round(result["requests_per_s"] / result["floor_requests_per_s"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--rounds", type=int, default=8, help="alternations between emulator and baseline")
    p.add_argument("--in-process", action="store_true", help="run the emulator as a thread of this process")
    p.add_argument("--legal-basis", action="store_true", help="every item carries legalBasis + explanation")
    p.add_argument("--no-baseline", action="store_true", help="skip the do-nothing-server baseline")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"emulator batch/write ({result['mode']}, {args.batch}-item bodies, {result['response_bytes']}-byte "
        f"answers, keep-alive httpx): {result['requests_per_s']} req/s, {result['records_per_s']} records/s, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms over {result['requests']} requests"
    )
    if "floor_requests_per_s" in result:
        print(
            f"same client against a do-nothing server (the client's floor, interleaved in {result['rounds']} "
            f"rounds): {result['floor_requests_per_s']} req/s; the emulator reaches {result['share_of_floor']:.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
