"""The HTTP layer: a stdlib `ThreadingHTTPServer` (HTTP/1.1 keep-alive, Nagle off, one daemon thread per
connection) that reads requests defensively and carries out the `Outcome` the core decides, including
losing the response on purpose. `Emulator` is the server object; `running_emulator` the context manager.
"""

from __future__ import annotations

import http
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from local.hubspot_emulator import portals as tenancy
from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.control import PREFIX
from local.hubspot_emulator.core import EmulatorCore
from local.hubspot_emulator.faults import Faults
from local.hubspot_emulator.messages import Outcome, Request
from local.hubspot_emulator.portals import PortalSpec
from local.hubspot_emulator.shapes import ApiError, error_body

DRAIN_FACTOR = 8  # bodies up to this many times the cap are read and discarded so the 413 is seen
_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}
_CHUNK = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], core: EmulatorCore, verbose: bool) -> None:
        self.core = core
        self.verbose = verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host (slow on some machines)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are the client's business; anything else is printed, never fatal."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        traceback.print_exc(file=sys.stderr)

    def close_connections(self, wait_s: float) -> None:
        """Shut every open connection (wakes idle keep-alive threads) and wait briefly for them to end."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self._connections_lock:
                if not self._connections:
                    return
            time.sleep(0.01)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "hubspot-emulator"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.core.config.idle_timeout_s)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"emulator: {self.address_string()} {format % args}\n")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, huge headers, ...) in the `Error` shape."""
        self.close_connection = True
        text = message or _PHRASES.get(code, "Error")
        body = error_body("VALIDATION_ERROR", text, str(uuid.uuid4()))
        self._write(code, [("Content-Type", "application/json;charset=utf-8")], json.dumps(body).encode())

    def _serve(self) -> None:
        server = self.server
        request = self._read_request()
        if request is None:
            self.close_connection = True
            return
        outcome = server.core.handle(request)
        if outcome.delay_s > 0:
            server.stopping.wait(outcome.delay_s)
        if outcome.action == "respond":
            self._write(outcome.status, outcome.headers, outcome.body, outcome.close)
            return
        self.close_connection = True
        if outcome.action == "hang":
            server.stopping.wait(outcome.hang_s)
        elif outcome.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _read_request(self) -> Request | None:
        """The request with its body, or None after answering a framing error (connection closes)."""
        cap = self.server.core.config.max_body_bytes
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body, too_large = self._read_chunked(cap)
            else:
                body, too_large = self._read_sized(cap)
        except _FramingError as err:
            self.send_error(400, str(err))
            return None
        except (OSError, ValueError):
            return None
        path, _, query = self.path.partition("?")
        return Request(
            self.command,
            path,
            query,
            self.headers.get("Authorization"),
            self.headers.get("Content-Type"),
            body,
            too_large,
        )

    def _read_sized(self, cap: int) -> tuple[bytes, bool]:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b"", False
        if not raw.strip().isdigit():
            raise _FramingError(f"Invalid Content-Length: {raw[:40]!r}")
        length = int(raw)
        if length <= cap:
            body = self.rfile.read(length)
            if len(body) < length:
                raise ConnectionError("client closed mid-body")
            return body, False
        if length > cap * DRAIN_FACTOR:
            self.close_connection = True
            return b"", True
        self._discard(length)
        return b"", True

    def _read_chunked(self, cap: int) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                chunk = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _FramingError("Invalid chunked encoding") from None
            if chunk == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                return (b"", True) if size > cap else (b"".join(parts), False)
            size += chunk
            if size > cap * DRAIN_FACTOR:
                self.close_connection = True
                return b"", True
            if size > cap:
                parts.clear()
                self._discard(chunk)
            else:
                parts.append(self.rfile.read(chunk))
            self.rfile.readline(8)

    def _discard(self, length: int) -> None:
        while length > 0:
            got = self.rfile.read(min(_CHUNK, length))
            if not got:
                raise ConnectionError("client closed mid-body")
            length -= len(got)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes, close: bool = False) -> None:
        close = close or self.close_connection
        self.close_connection = close
        lines = [f"HTTP/1.1 {status} {_PHRASES.get(status, 'Unknown')}", "Server: hubspot-emulator"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True


def _json_outcome(status: int, payload: Any) -> Outcome:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Outcome(status, [("Content-Type", "application/json;charset=utf-8")], body)


class _FramingError(Exception):
    """The request body cannot be delimited, so the connection cannot be reused."""


class Emulator(EmulatorCore):
    """The emulator plus its HTTP server. `start()` binds and serves in a background thread.

    It is the first portal itself (every single-portal method acts on it). With `portals`, the first
    spec is this portal and the others are portals of their own (docs/emulator.md, Several portals):
    `portal(ID)` returns each one's state, API requests go to the portal their token belongs to."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        tokens: Iterable[str] = (),
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        portals: Iterable[PortalSpec] = (),
    ) -> None:
        specs = tenancy.check_specs(portals)
        if specs and any(True for _ in tokens):
            raise ValueError("with portals, give each portal its tokens in its PortalSpec")
        if specs:
            first = specs[0]
            own = (first.config or config or EmulatorConfig()).replace(portal_id=first.portal_id)
            super().__init__(own, tokens=first.tokens, faults=first.faults or faults)
        else:
            super().__init__(config, tokens=tokens, faults=faults)
        self._portals: dict[int, EmulatorCore] = {self.config.portal_id: self}
        for spec in specs[1:]:
            self._portals[spec.portal_id] = spec.core(config, faults)
        self._address = (host, port)
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def portal(self, portal_id: int | str) -> EmulatorCore:
        """One portal's state and control methods (the same ones this object has for the first
        portal): `emulator.portal(7).status(...)`, `.set_faults(...)`, `.request_log()`. KeyError when
        the emulator does not serve that portal."""
        key = tenancy.parse_portal_id(portal_id)
        if key not in self._portals:
            raise KeyError(f"no portal {key}; served: {sorted(self._portals)}")
        return self._portals[key]

    def portal_ids(self) -> list[int]:
        """The portals served, the first (default) one first."""
        return list(self._portals)

    def add_portal(self, spec: PortalSpec) -> EmulatorCore:
        """Serve one more portal (its own config defaults to the first portal's starting config)."""
        known = [t for core in self._portals.values() for t in spec.tokens if core.knows_token(t)]
        if spec.portal_id in self._portals or known:
            raise ValueError(f"portal {spec.portal_id} or one of its tokens is already served")
        core = spec.core(self._initial_config, self._initial_faults)
        self._portals[spec.portal_id] = core
        return core

    def handle(self, request: Request) -> Outcome:
        """Route the request to its portal (docs/emulator.md, Several portals), then answer it there."""
        if request.path.startswith(PREFIX):
            if request.method == "GET" and request.path == PREFIX + "portals":
                return _json_outcome(200, {"portals": self.portal_ids()})
            try:
                target = tenancy.control_portal(self._portals, self, request.query)
            except ApiError as err:
                return _json_outcome(err.status, err.body(str(uuid.uuid4())))
        else:
            target = tenancy.api_portal(self._portals, self, request)
        return EmulatorCore.handle(target, request)

    @property
    def host(self) -> str:
        """The bound host."""
        return self._require_server().server_name

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        return self._require_server().server_port

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT`, no trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Emulator:
        """Bind and start serving; returns self. The port is bound when this returns."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._server = _Server(self._address, self, self._verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hubspot-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake injected hangs and close open connections. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.stopping.set()
        server.close_connections(wait_s=2.0)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _require_server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("emulator is not running; call start() first")
        return self._server


@contextmanager
def running_emulator(
    config: EmulatorConfig | None = None,
    tokens: Iterable[str] | None = None,
    *,
    faults: Faults | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    portals: Iterable[PortalSpec] = (),
) -> Iterator[Emulator]:
    """A started emulator on a free loopback port, stopped on exit; `portals` as for `Emulator`."""
    emulator = Emulator(
        config, tokens=tokens or (), faults=faults, host=host, port=port, portals=portals
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()
