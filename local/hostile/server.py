"""The hostile server: a stdlib threading HTTP server on loopback that answers each request per its
``Profile`` (a fault kind for a share of calls; the rest a valid answer, or the upstream's answer)."""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local.hostile.answers import Answer, batch_answer, fault_answer

Responder = Callable[[str, Any], Answer]  # (path, parsed request body) -> the answer
# (path, parsed request body, a call that forwards to the upstream and returns its answer) -> the answer
Relay = Callable[[str, Any, Callable[[], Answer]], Answer]


class UpstreamFailed(OSError):
    """The upstream gave no answer (it dropped the connection or timed out): relayed as a dropped one."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Which faults to inject: ``kinds`` picked at random (seeded) for a ``rate`` share of calls, or
    ``respond`` deciding every answer itself. Calls spared go to ``upstream`` when set, else get
    ``batch_answer``. With an upstream, ``relay`` decides every answer instead and may ask the upstream
    first (a chaos run: HubSpot applied the call, then its answer is mangled on the way back)."""

    kinds: tuple[str, ...] = ()
    rate: float = 1.0
    seed: int | None = None
    respond: Responder | None = None
    huge_bytes: int = 64 * 1024 * 1024
    relay: Relay | None = None

    @classmethod
    def always(cls, kind: str) -> Profile:
        return cls(kinds=(kind,))


@dataclass
class HostileServer:
    """A running hostile server; ``url`` is its base URL, ``requests`` what it received (path, body)."""

    url: str
    requests: list[tuple[str, Any]] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, profile: Profile, upstream: str | None) -> None:
        self.profile = profile
        self.upstream = upstream
        self.random = random.Random(profile.seed)
        self.lock = threading.Lock()
        self.received: list[tuple[str, Any]] = []
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up mid-answer is what the faults are for: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host."""
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def choose(self, path: str, body: Any) -> Answer | None:
        """The fault for this call, or None to answer it normally."""
        with self.lock:
            self.received.append((path, body))
            if self.profile.respond is not None:
                return self.profile.respond(path, body)
            if not self.profile.kinds or self.random.random() >= self.profile.rate:
                return None
            kind = self.random.choice(self.profile.kinds)
        return fault_answer(kind, body, huge_bytes=self.profile.huge_bytes)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length))

    def _handle(self, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        relay = self.server.profile.relay
        if relay is not None and self.server.upstream is not None:
            with self.server.lock:
                self.server.received.append((self.path, body))
            self._relay(lambda: relay(self.path, body, lambda: self._fetch(raw)))
            return
        answer = self.server.choose(self.path, body)
        if answer is None and self.server.upstream is not None:
            self._relay(lambda: self._fetch(raw))  # no fault for this call: the upstream's own answer
            return
        self._send(answer or Answer(body=json.dumps(batch_answer(body)).encode()))

    def _relay(self, answer_of: Callable[[], Answer]) -> None:
        """Send what the upstream answered (reshaped or not); without an answer, end the connection."""
        try:
            self._send(answer_of())
        except UpstreamFailed:
            self.close_connection = True  # the client sees the connection end without an answer

    def _fetch(self, raw: bytes) -> Answer:
        """The upstream's answer to this call, as an Answer (raises UpstreamFailed without one)."""
        parts = urlsplit(self.server.upstream or "")
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, body=raw or None, headers=headers)
            reply = connection.getresponse()
            content = reply.read()
        except (OSError, http.client.HTTPException) as error:
            raise UpstreamFailed(str(error)) from None
        finally:
            connection.close()
        skip = ("transfer-encoding", "connection", "content-length", "content-type", "date", "server")
        return Answer(
            status=reply.status,
            body=content,
            content_type=reply.getheader("Content-Type"),
            headers=tuple((k, v) for k, v in reply.getheaders() if k.lower() not in skip),
        )

    def _send(self, answer: Answer) -> None:
        if answer.hang_s and self.server.stopping.wait(answer.hang_s):
            return
        self._send_head(answer)
        if not self._send_body(answer):
            return
        if answer.content_length is not None and answer.content_length != answer.length:
            self.close_connection = True  # a truncated body: the client sees the connection end early

    def _send_head(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.content_type is not None:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers:
            self.send_header(name, value)
        length = answer.length if answer.content_length is None else answer.content_length
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()

    def _send_body(self, answer: Answer) -> bool:
        """The body as the fault shapes it; False when the connection ended before all of it."""
        sent = 0
        for _ in range(answer.repeat):
            for piece in _pieces(answer):
                if answer.reset_after is not None and sent + len(piece) > answer.reset_after:
                    self._reset()
                    return False
                try:
                    self.wfile.write(piece)
                    if answer.trickle_s:
                        self.wfile.flush()
                except OSError:  # the client gave up: that is what the fault is for
                    self.close_connection = True
                    return False
                sent += len(piece)
                if answer.trickle_s and self.server.stopping.wait(answer.trickle_s):
                    return False
        return True

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0), not FIN: the client sees "connection reset" mid-body."""
        with suppress(OSError):
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


def _pieces(answer: Answer) -> Iterator[bytes]:
    if not answer.trickle_s:
        yield answer.body
        return
    size = max(1, answer.trickle_bytes)
    for start in range(0, len(answer.body), size):
        yield answer.body[start : start + size]


def start_hostile(profile: Profile | str, *, upstream: str | None = None) -> HostileServer:
    """Start a hostile server on a free loopback port; ``profile`` may be one fault kind's name. Returns
    it with its URL; call ``stop()`` when done. This is what a chaos run calls (``upstream`` = the
    emulator's URL, with a ``rate`` below 1)."""
    chosen = Profile.always(profile) if isinstance(profile, str) else profile
    server = _Server(chosen, upstream)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="hostile", daemon=True
    )
    thread.start()

    def stop() -> None:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return HostileServer(url=f"http://127.0.0.1:{server.server_port}", requests=server.received, stop=stop)


@contextmanager
def running_hostile(profile: Profile | str, *, upstream: str | None = None) -> Iterator[HostileServer]:
    """``start_hostile`` as a context manager."""
    started = start_hostile(profile, upstream=upstream)
    try:
        yield started
    finally:
        started.stop()
