"""A thin DynamoDB JSON client for the ordering ledger's two operations.

Why not boto3: with the ledger on (the template's default), botocore's generic machinery cost several
times the function's own work per message (README "Performance"): every request's items are walked by
the serialiser, the endpoint ruleset is evaluated per call, and every answer is parsed shape by shape,
although the ledger's requests and answers are DynamoDB JSON already. This client sends the ledger's
own JSON as it is, signs it with SigV4 as botocore's ``SigV4Auth`` does (credentials found as boto3
finds them, refreshed when they expire) and hands back the answer as DynamoDB sent it, which is what
the low-level boto3 client returns for these two operations. Nor httpx: its models, header checks
and pool cost ~2 ms of CPU per call, ~20 calls per 1,000 records; one keep-alive ``http.client``
connection carries them, each bounded as ``transport.bounded_post`` bounds HubSpot's calls.
Errors raise ``DynamoDBError`` shaped like botocore's ``ClientError`` (``response["Error"]["Code"]``
and, for a cancelled transaction, its ``CancellationReasons``). Neither a request nor an answer body
is ever logged or put in an error's text.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import select
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
import httpx

from status_writer.transport import MAX_RESPONSE_BYTES, ResponseTooLarge, call_bound

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call
ATTEMPTS = 2  # as the function's botocore clients ("standard" retries, 2 attempts)
CONNECT_TIMEOUT_S = 1.0  # as the function's botocore clients: AWS calls fit in the deadline's margin
READ_TIMEOUT_S = 2.0
PIECE_BYTES = 65_536
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


class DynamoDBError(RuntimeError):
    """DynamoDB refused a request or could not be reached. ``response`` has botocore's error shape;
    the text names only the code and the HTTP status."""

    def __init__(self, code: str, status: int, response: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"DynamoDB {code} (HTTP {status})")
        self.code = code
        self.status = status
        self.response: dict[str, Any] = {"Error": {"Code": code}, **(response or {})}


class CredentialSource(Protocol):
    """botocore's (refreshable) credentials."""

    def get_frozen_credentials(self) -> Any: ...


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
    """``batch_get_item`` and ``transact_write_items`` with boto3's low-level names and shapes.
    ``on_send`` is called with each attempt's ``X-Amz-Target`` and body as it goes out (benchmarks
    count the calls with it)."""

    def __init__(self, endpoint: str, region: str, credentials: CredentialSource) -> None:
        self.connection = Connection(endpoint)
        self._signer = Signer(endpoint, region)
        self._credentials = credentials
        self.on_send: list[Callable[[str, bytes], None]] = []

    @classmethod
    def from_environment(cls, session: Any = None) -> DynamoDBClient:
        """Region, credentials and endpoint as boto3 would find them."""
        session = session if session is not None else boto3.Session()
        region, credentials = session.region_name, session.get_credentials()
        if not region or credentials is None:
            raise DynamoDBError("NoRegionOrCredentials", 0)
        return cls(endpoint_url(os.environ, region), region, credentials)

    def batch_get_item(self, *, limit_s: float | None = None, **request: Any) -> dict[str, Any]:
        return self.call("BatchGetItem", request, limit_s)

    def transact_write_items(self, *, limit_s: float | None = None, **request: Any) -> dict[str, Any]:
        return self.call("TransactWriteItems", request, limit_s)

    def call(
        self, operation: str, request: Mapping[str, Any], limit_s: float | None = None
    ) -> dict[str, Any]:
        """One operation, tried once more if the failure may pass. With ``limit_s`` (what the
        invocation has left for a call) both attempts together end within it, each as a whole call
        (``Connection.post``), so a slow or trickling endpoint cannot hold the invocation."""
        body = COMPACT.encode(request).encode()
        ends_at = None if limit_s is None else time.monotonic() + limit_s
        for attempt in range(1, ATTEMPTS + 1):
            left = None if ends_at is None else ends_at - time.monotonic()
            if left is not None and left <= 0:
                raise DynamoDBError("TimeBudget", 0)
            try:
                return self._send(operation, body, left)
            except DynamoDBError as error:
                if attempt == ATTEMPTS or not retryable(error):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, operation: str, body: bytes, limit_s: float | None) -> dict[str, Any]:
        target = TARGET_PREFIX + operation
        headers = self._signer.sign(target, body, self._credentials.get_frozen_credentials())
        for listener in self.on_send:
            listener(target, body)
        try:
            status, content = self.connection.post(headers, body, limit_s)
        except (OSError, http.client.HTTPException, ResponseTooLarge) as error:
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
        key = self._signing_key(credentials.secret_key, stamp[:8])
        signature = hmac.new(key, to_sign, hashlib.sha256).hexdigest()
        credential = f"{credentials.access_key}/{scope}"
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={names}, Signature={signature}"
        )
        return headers

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        """Four HMACs, once a day per secret key rather than once per call."""
        if self._key is None or self._key[:2] != (secret_key, day):
            key = f"AWS4{secret_key}".encode()
            for part in (day, self._region, "dynamodb", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = (secret_key, day, key)
        return self._key[2]


class Connection:
    """POSTs to ``endpoint`` over one connection, opened again once the peer closed it. Raises
    ``OSError`` or ``http.client.HTTPException`` when the exchange fails (``TimeoutError`` when its
    time is over), ``ResponseTooLarge`` past the size cap; the connection is then dropped."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._address = (parts.hostname or "localhost", parts.port or (443 if self._https else 80))
        self._path = parts.path or "/"
        self._context = ssl.create_default_context() if self._https else None
        self._open: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def post(self, headers: Mapping[str, str], body: bytes, limit_s: float | None) -> tuple[int, bytes]:
        """Send ``body`` and read the whole answer; with ``limit_s``, both within it as one bound (the
        watchdog of ``transport.call_bound`` shuts the socket down when the time is over)."""
        with self._lock:
            try:
                if limit_s is None:
                    return self._exchange(headers, body, None, None)
                with call_bound(limit_s) as bound:
                    try:
                        answer = self._exchange(headers, body, limit_s, bound)
                    except (OSError, http.client.HTTPException, httpx.TimeoutException):
                        if bound.expired:
                            raise TimeoutError("the call's time budget is used up") from None
                        raise
                    bound.finish()  # before the connection can be used again
                    return answer
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        connection, self._open = self._open, None
        if connection is not None:
            connection.close()

    def _exchange(
        self, headers: Mapping[str, str], body: bytes, limit_s: float | None, bound: Any
    ) -> tuple[int, bytes]:
        connection = self._connection(limit_s)
        if bound is not None:
            bound.watch_socket(connection.sock)
        connection.sock.settimeout(_at_most(READ_TIMEOUT_S, limit_s))
        connection.request("POST", self._path, body=body, headers=dict(headers))
        response = connection.getresponse()
        content = bytearray()
        while piece := response.read1(PIECE_BYTES):
            content += piece
            if len(content) > MAX_RESPONSE_BYTES:
                raise ResponseTooLarge
            if bound is not None:
                bound.check()
        if bound is not None:
            bound.raise_if_expired()  # the socket was shut down: what was read ended early
        if response.length:
            raise http.client.IncompleteRead(bytes(content), response.length)
        if response.will_close:
            self.close()
        return response.status, bytes(content)

    def _connection(self, limit_s: float | None) -> http.client.HTTPConnection:
        """The kept connection unless the peer closed it meanwhile (an idle socket that reads as ready
        was closed, or sent what nobody asked for), else a new one."""
        if self._open is not None and _idle(self._open.sock):
            return self._open
        self.close()
        host, port = self._address
        timeout = _at_most(CONNECT_TIMEOUT_S, limit_s)
        if self._context is not None:
            self._open = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context)
        else:
            self._open = http.client.HTTPConnection(host, port, timeout=timeout)
        self._open.connect()
        return self._open


def _idle(sock: Any) -> bool:
    try:
        return not select.select([sock], [], [], 0)[0]
    except (OSError, ValueError, TypeError):
        return False


def _at_most(configured: float, limit_s: float | None) -> float:
    return configured if limit_s is None else max(0.001, min(configured, limit_s))
