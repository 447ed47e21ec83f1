"""A thin DynamoDB JSON client for the ordering ledger's two operations.

Why not boto3 (README "Performance"): botocore's serialiser walks every item, its endpoint ruleset runs
per call and every answer is parsed shape by shape, though the ledger's requests and answers are
DynamoDB JSON already; nor httpx: its models, header checks and pool cost ~2 ms of CPU per call, ~20
calls per 1,000 records. This client sends the ledger's JSON as it is over one keep-alive HTTP/1.1
connection, bounded as ``transport.bounded_post`` bounds HubSpot's calls, signed as botocore's SigV4
signs (credentials found as boto3 finds them, refreshed when they expire), and returns the answer as
the low-level boto3 client does. Errors raise ``DynamoDBError`` shaped like botocore's ``ClientError``
(``response["Error"]["Code"]``, a cancelled transaction's ``CancellationReasons``); no request or answer
body is ever logged or put in an error's text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx

from status_writer.transport import MAX_RESPONSE_BYTES, ResponseTooLarge, call_bound

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
ATTEMPTS = 2  # as the function's botocore clients ("standard" retries, 2 attempts)
CONNECT_TIMEOUT_S = 1.0  # as the function's botocore clients: AWS calls fit in the deadline's margin
READ_TIMEOUT_S = 2.0
PIECE_BYTES = 65_536
UNBOUNDED_S = 3_600.0  # a call given no time bound still ends
_THROTTLED = ("ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded")
_FAILED = ("InternalServerError", "ServiceUnavailable", "TransactionInProgressException")
RETRYABLE_CODES = frozenset(_THROTTLED + _FAILED)


class DynamoDBError(RuntimeError):
    """DynamoDB refused a request or could not be reached. ``response`` has botocore's error shape;
    the text names only the code and the HTTP status."""

    def __init__(self, code: str, status: int, response: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"DynamoDB {code} (HTTP {status})")
        self.code = code
        self.status = status
        self.response: dict[str, Any] = {"Error": {"Code": code}, **(response or {})}


def endpoint_url(environ: Mapping[str, str], region: str) -> str:
    """The endpoint botocore would use: ``AWS_ENDPOINT_URL_DYNAMODB``, then ``AWS_ENDPOINT_URL``
    (unless ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``), else the regional one."""
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"):
            if environ.get(name):
                return environ[name]
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://dynamodb.{region}.{suffix}"


def error_of(status: int, body: bytes) -> DynamoDBError:
    """The named error of a refused request, from DynamoDB's JSON error answer."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return DynamoDBError(f"HTTP{status}", status)
    code = str(answer.get("__type", f"HTTP{status}")).rpartition("#")[2]
    extra: dict[str, Any] = {}
    reasons = answer.get("CancellationReasons")
    if isinstance(reasons, list):
        extra["CancellationReasons"] = [r if isinstance(r, dict) else {} for r in reasons]
    return DynamoDBError(code, status, extra)


def retryable(error: DynamoDBError) -> bool:
    """Throttling, DynamoDB's own failures and the network are tried once more; the rest are final."""
    return error.code in RETRYABLE_CODES or error.status >= 500 or error.status == 0


class DynamoDBClient:
    """BatchGetItem and TransactWriteItems of requests encoded as JSON text (``batch_get_json``,
    ``transact_write_json``): the ledger spells its requests out (``ledger_items``).
    ``on_send`` is called with each attempt's ``X-Amz-Target`` and body as it goes out (benchmarks
    count the calls with it)."""

    def __init__(self, endpoint: str, region: str, credentials: Any) -> None:  # botocore's (refreshable)
        self.connection = Connection(endpoint)
        self._signer = Signer(endpoint, region)
        self._credentials = credentials
        self.on_send: list[Callable[[str, bytes], None]] = []

    @classmethod
    def from_environment(cls, session: Any = None) -> DynamoDBClient:
        """Region, credentials and endpoint as boto3 would find them."""
        session = session or boto3.Session()
        region, credentials = session.region_name, session.get_credentials()
        if not region or credentials is None:
            raise DynamoDBError("NoRegionOrCredentials", 0)
        return cls(endpoint_url(os.environ, region), region, credentials)

    def batch_get_json(self, request: str, limit_s: float | None = None) -> dict[str, Any]:
        """BatchGetItem of a request already encoded as JSON text (the ledger's reads)."""
        return self.send("BatchGetItem", request.encode(), limit_s)

    def transact_write_json(self, actions: Sequence[str], limit_s: float | None = None) -> dict[str, Any]:
        """TransactWriteItems of ``actions`` already encoded as JSON text (the ledger's Puts): spliced
        into the request as they are."""
        return self.send("TransactWriteItems", f'{{"TransactItems":[{",".join(actions)}]}}'.encode(), limit_s)

    def send(self, operation: str, body: bytes, limit_s: float | None = None) -> dict[str, Any]:
        """One operation, its request encoded already, tried once more if the failure may pass. With
        ``limit_s`` (what the invocation has left for a call) both attempts together end within it,
        each as a whole call (``Connection.post``), so a slow or trickling endpoint cannot hold the
        invocation."""
        ends_at = time.monotonic() + (UNBOUNDED_S if limit_s is None else limit_s)
        for attempt in range(1, ATTEMPTS + 1):
            left = ends_at - time.monotonic()
            if left <= 0:
                raise DynamoDBError("TimeBudget", 0)
            try:
                return self._send(operation, body, left)
            except DynamoDBError as error:
                if attempt == ATTEMPTS or not retryable(error):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, operation: str, body: bytes, limit_s: float) -> dict[str, Any]:
        target = TARGET_PREFIX + operation
        headers = self._signer.sign(target, body, self._credentials.get_frozen_credentials())
        for listener in self.on_send:
            listener(target, body)
        try:
            status, content = self.connection.post(headers, body, limit_s)
        except (OSError, ResponseTooLarge) as error:
            raise DynamoDBError(type(error).__name__, 0) from None
        if status != 200:
            raise error_of(status, content)
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DynamoDBError("MalformedAnswer", status)
        return answer


class Signer:
    """SigV4 for the ledger's POSTs as botocore's ``SigV4Auth`` signs them, every header sent signed."""

    def __init__(self, endpoint: str, region: str) -> None:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        default_port = parts.port in (None, 443 if parts.scheme == "https" else 80)
        self.host = host if default_port else f"{host}:{parts.port}"
        self._path = parts.path or "/"
        self._region = region
        self._key: tuple[str, str, bytes] | None = None  # (secret key, day, that day's signing key)

    def sign(self, target: str, body: bytes, credentials: Any, now_s: float | None = None) -> dict[str, str]:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now_s is None else now_s))
        headers = {"content-type": CONTENT_TYPE, "host": self.host, "x-amz-date": stamp}
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        headers["x-amz-target"] = target  # the names in order, as the canonical request wants them
        names = ";".join(headers)
        lines = "".join(f"{name}:{value}\n" for name, value in headers.items())
        digest = hashlib.sha256(body).hexdigest()
        canonical = f"POST\n{self._path}\n\n{lines}\n{names}\n{digest}".encode()
        scope = f"{stamp[:8]}/{self._region}/dynamodb/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical).hexdigest()}".encode()
        if self._key is None or self._key[:2] != (
            credentials.secret_key,
            stamp[:8],
        ):  # once a day, not per call
            key = f"AWS4{credentials.secret_key}".encode()
            for part in (stamp[:8], self._region, "dynamodb", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = (credentials.secret_key, stamp[:8], key)
        signature = hmac.new(self._key[2], to_sign, hashlib.sha256).hexdigest()
        credential = f"{credentials.access_key}/{scope}"
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={names}, Signature={signature}"
        )
        return headers


class Connection:
    """POSTs to ``endpoint`` over one keep-alive HTTP/1.1 connection, opened again once the peer closed
    it; answers are read by ``_Reader``, not http.client, whose header parsing (the email package) cost
    ~0.5 ms a call. Raises ``OSError`` when the exchange fails (``TimeoutError`` when its time is over)
    or ``ResponseTooLarge``; the connection is then dropped."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        https = parts.scheme == "https"
        self._address = (parts.hostname or "localhost", parts.port or (443 if https else 80))
        self._request_line = f"POST {parts.path or '/'} HTTP/1.1\r\n"
        self._context = ssl.create_default_context() if https else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def post(self, headers: Mapping[str, str], body: bytes, limit_s: float) -> tuple[int, bytes]:
        """Send ``body`` and read the whole answer within ``limit_s`` as one bound (the watchdog of
        ``transport.call_bound`` shuts the socket down when the time is over)."""
        with self._lock, call_bound(limit_s) as bound:
            try:
                answer = self._exchange(headers, body, limit_s, bound)
                bound.finish()  # before the connection can be used again
                return answer
            except BaseException as error:
                self.close()
                if bound.expired and isinstance(error, OSError | httpx.TimeoutException):
                    raise TimeoutError("the call's time budget is used up") from None
                raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _exchange(
        self, headers: Mapping[str, str], body: bytes, limit_s: float, bound: Any
    ) -> tuple[int, bytes]:
        sock = self._connection(limit_s)
        bound.watch_socket(sock)
        sock.settimeout(min(READ_TIMEOUT_S, limit_s))
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(f"{self._request_line}{lines}content-length: {len(body)}\r\n\r\n".encode() + body)
        reader = _Reader(sock, bound)
        version, status, fields = reader.head()
        content = reader.body(fields) if status >= 200 and status not in (204, 304) else b""
        if version != "HTTP/1.1" or fields.get("connection", "").lower() == "close":
            self.close()
        return status, content

    def _connection(self, limit_s: float) -> socket.socket:
        """The kept connection unless the peer closed it meanwhile (an idle socket that reads as ready
        was closed, or sent what nobody asked for), else a new one."""
        if self._sock is not None:
            try:
                if not select.select([self._sock], [], [], 0)[0]:
                    return self._sock
            except (OSError, ValueError):
                pass
        self.close()
        self._sock = socket.create_connection(self._address, timeout=min(CONNECT_TIMEOUT_S, limit_s))
        if self._context is not None:  # should the handshake fail, post() closes the plain socket
            self._sock = self._context.wrap_socket(self._sock, server_hostname=self._address[0])
        return self._sock


class _Reader:
    """One HTTP/1.1 answer: its head, then a body of its Content-Length (DynamoDB frames every answer
    so; any other framing is refused), at most MAX_RESPONSE_BYTES, the time checked between reads."""

    def __init__(self, sock: socket.socket, bound: Any) -> None:
        self._sock, self._bound, self._buffer, self._read = sock, bound, bytearray(), 0

    def head(self) -> tuple[str, int, dict[str, str]]:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            self._more()
        status_line, *lines = self._take(end + 4).decode("latin-1").split("\r\n")[:-2]
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise ConnectionError("the answer is not HTTP/1.x")
        fields = {name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
        return version, int(rest[:3]), fields

    def body(self, fields: Mapping[str, str]) -> bytes:
        length = fields.get("content-length", "")
        if not length.isdigit() or "transfer-encoding" in fields:
            raise ConnectionError("the answer is not framed by its Content-Length")
        while len(self._buffer) < int(length):
            self._more()
        return self._take(int(length))

    def _take(self, size: int) -> bytes:
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def _more(self) -> None:
        piece = self._sock.recv(PIECE_BYTES)
        self._bound.check()
        if not piece:
            raise ConnectionResetError("the connection ended before the answer did")
        self._read += len(piece)
        if self._read > MAX_RESPONSE_BYTES:
            raise ResponseTooLarge
        self._buffer += piece
