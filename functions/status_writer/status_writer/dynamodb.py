"""A thin DynamoDB JSON client for the ordering ledger's two operations, on httpx.

Why not boto3: with the ledger on (the template's default), botocore's generic machinery cost several
times the function's own work per message (README "Performance"): every request's items are walked by
the serialiser, the endpoint ruleset is evaluated per call, and every answer is parsed shape by shape,
although the ledger's requests and answers are DynamoDB JSON already. This client sends the ledger's
own JSON as it is, signs it with botocore's SigV4 signer (credentials found as boto3 finds them, refreshed
when they expire) and hands back the answer as DynamoDB sent it, which is what the low-level boto3
client returns for these two operations. Errors raise ``DynamoDBError`` shaped like botocore's
``ClientError`` (``response["Error"]["Code"]`` and, for a cancelled transaction, its
``CancellationReasons``). Neither a request nor an answer body is ever logged or put in an error's text.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any, Protocol

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from status_writer.transport import ResponseTooLarge, bounded_post

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call
ATTEMPTS = 2  # as the function's botocore clients ("standard" retries, 2 attempts)
CONNECT_TIMEOUT_S = 1.0  # as the function's botocore clients: AWS calls fit in the deadline's margin
READ_TIMEOUT_S = 2.0
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
    """``batch_get_item`` and ``transact_write_items`` with boto3's low-level names and shapes."""

    def __init__(self, http: httpx.Client, endpoint: str, region: str, credentials: CredentialSource) -> None:
        self.http = http
        self._endpoint = endpoint
        self._region = region
        self._credentials = credentials

    @classmethod
    def from_environment(cls, session: Any = None) -> DynamoDBClient:
        """Region, credentials and endpoint as boto3 would find them; one keep-alive httpx client."""
        session = session if session is not None else boto3.Session()
        region = session.region_name
        credentials = session.get_credentials()
        if not region or credentials is None:
            raise DynamoDBError("NoRegionOrCredentials", 0)
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, pool=CONNECT_TIMEOUT_S)
        http = httpx.Client(timeout=timeout, follow_redirects=False)
        return cls(http, endpoint_url(os.environ, region), region, credentials)

    def batch_get_item(self, *, limit_s: float | None = None, **request: Any) -> dict[str, Any]:
        return self.call("BatchGetItem", request, limit_s)

    def transact_write_items(self, *, limit_s: float | None = None, **request: Any) -> dict[str, Any]:
        return self.call("TransactWriteItems", request, limit_s)

    def call(
        self, operation: str, request: Mapping[str, Any], limit_s: float | None = None
    ) -> dict[str, Any]:
        """One operation, tried once more if the failure may pass. With ``limit_s`` (what the
        invocation has left for a call) both attempts together end within it, each as a whole call
        (``transport.bounded_post``), so a slow or trickling endpoint cannot hold the invocation."""
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
        headers = self._signed(operation, body)
        try:
            if limit_s is None:
                response = self.http.post(self._endpoint, content=body, headers=headers)
                content = response.content
            else:
                response, content = bounded_post(self.http, self._endpoint, body, headers, limit_s)
        except (httpx.HTTPError, ResponseTooLarge) as error:
            raise DynamoDBError(type(error).__name__, 0) from None
        if response.status_code != 200:
            raise error_of(response.status_code, content)
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DynamoDBError("MalformedAnswer", response.status_code)
        return answer

    def _signed(self, operation: str, body: bytes) -> dict[str, str]:
        frozen = self._credentials.get_frozen_credentials()
        request = AWSRequest(
            method="POST",
            url=self._endpoint,
            data=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation},
        )
        SigV4Auth(frozen, "dynamodb", self._region).add_auth(request)
        return dict(request.headers.items())
