"""The ledger's DynamoDB JSON client (dynamodb.py): endpoints, signed requests, answers and errors, over
real HTTP to a loopback peer that answers what each test scripts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from status_writer.dynamodb import DynamoDBClient, DynamoDBError, Signer, endpoint_url, error_of, retryable
from status_writer.entries import History
from status_writer.ledger import VersionLedger
from status_writer.transport import MAX_RESPONSE_BYTES

CANCELLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
    "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed"}],
}
Answer = Callable[[BaseHTTPRequestHandler], None]  # writes one answer (or none) to the request


@dataclass
class Seen:
    path: str
    headers: Message  # names in any case, as HTTP has them
    body: bytes


@dataclass
class Peer:
    """The loopback DynamoDB: answers the n-th request with ``answers[n]`` (the last one from then on)."""

    answers: list[Answer]
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


def reply(status: int, answer: Any, *, close: bool = False) -> Answer:
    def write(handler: BaseHTTPRequestHandler) -> None:
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/x-amz-json-1.0")
        handler.send_header("Content-Length", str(len(content)))
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(content)

    return write


def drop(handler: BaseHTTPRequestHandler) -> None:
    """No answer: the connection is closed."""
    handler.close_connection = True


def trickle(handler: BaseHTTPRequestHandler) -> None:
    """A 200 whose body comes a byte every 0.1 s (it would take 100 s)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(1000):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.1)


@pytest.fixture
def peer() -> Iterator[Peer]:
    state = Peer(answers=[reply(200, {})])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            state.connections += 1
            super().setup()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.seen.append(Seen(self.path, self.headers, body))
            state.answers[min(len(state.seen), len(state.answers)) - 1](self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def client(peer: Peer, *answers: Answer) -> DynamoDBClient:
    peer.answers = list(answers)
    return DynamoDBClient(peer.url, "eu-west-1", Credentials("AKIDEXAMPLE", "secret"))


def test_the_endpoint_is_the_service_variable_then_the_general_one_then_the_region() -> None:
    assert (
        endpoint_url({"AWS_ENDPOINT_URL_DYNAMODB": "http://a", "AWS_ENDPOINT_URL": "http://b"}, "x")
        == "http://a"
    )
    assert endpoint_url({"AWS_ENDPOINT_URL": "http://b"}, "eu-west-1") == "http://b"
    assert endpoint_url({}, "eu-west-1") == "https://dynamodb.eu-west-1.amazonaws.com"
    assert endpoint_url({}, "cn-north-1") == "https://dynamodb.cn-north-1.amazonaws.com.cn"
    ignored = {"AWS_ENDPOINT_URL": "http://b", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    assert endpoint_url(ignored, "eu-west-1") == "https://dynamodb.eu-west-1.amazonaws.com"


def test_a_request_is_the_operation_s_json_signed_for_dynamodb(peer: Peer) -> None:
    # GIVEN DynamoDB answering a BatchGetItem
    answer = {"Responses": {"versions": [{"pk": {"S": "p"}, "n": {"N": "2"}}]}, "UnprocessedKeys": {}}
    db = client(peer, reply(200, answer))
    request = {"versions": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": "CONTACT"}}], "ConsistentRead": True}}
    # WHEN the ledger's read asks for it
    got = db.batch_get_json(json.dumps({"RequestItems": request}))
    # THEN one POST carries the request as JSON, named by X-Amz-Target and signed with SigV4 for the
    # region's dynamodb scope; the answer comes back as DynamoDB sent it
    (sent,) = peer.seen
    assert sent.path == "/"
    assert json.loads(sent.body) == {"RequestItems": request}
    assert sent.headers["X-Amz-Target"] == "DynamoDB_20120810.BatchGetItem"
    assert sent.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/dynamodb/aws4_request" in sent.headers["Authorization"]
    assert "X-Amz-Date" in sent.headers
    assert sent.headers["Host"] == peer.url.removeprefix("http://")
    assert got == answer


@pytest.mark.parametrize("token", [None, "session/token+=="])
@pytest.mark.parametrize("url", ["http://127.0.0.1:4566", "https://dynamodb.eu-west-1.amazonaws.com:443"])
def test_the_signature_is_botocore_s_for_the_same_request_and_time(token: str | None, url: str) -> None:
    # GIVEN a request as the ledger sends it, at a fixed time, with and without a session token, and
    # botocore's SigV4 signature of it
    body = b'{"RequestItems":{}}'
    target = "DynamoDB_20120810.BatchGetItem"
    now = 1_800_000_000.0
    credentials = Credentials("AKIDEXAMPLE", "secret", token).get_frozen_credentials()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    expected = AWSRequest(method="POST", url=url, data=body, headers=headers)
    expected.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    auth = SigV4Auth(credentials, "dynamodb", "eu-west-1")
    auth._modify_request_before_signing(expected)
    signed_names = auth.signed_headers(auth.headers_to_sign(expected))
    signature = auth.signature(auth.string_to_sign(expected, auth.canonical_request(expected)), expected)
    signer = Signer(url, "eu-west-1")
    # WHEN it is signed twice on the same day (the second time with the day's key kept)
    signed = [signer.sign(target, body, credentials, now_s=now) for _ in range(2)]
    # THEN both carry botocore's signature over the headers botocore signs, which are the ones sent
    for mine in signed:
        assert mine["authorization"].endswith(f", SignedHeaders={signed_names}, Signature={signature}")
        assert ";".join(name for name in mine if name != "authorization") == signed_names
        assert mine.get("x-amz-security-token") == token


def test_calls_share_one_connection_until_the_peer_closes_it(peer: Peer) -> None:
    # GIVEN DynamoDB keeping the connection open for two answers, then closing it after the third
    db = client(peer, reply(200, {}), reply(200, {}), reply(200, {}, close=True), reply(200, {}))
    # WHEN four calls are made THEN the first three share a connection and the fourth opens another
    for _ in range(4):
        assert db.transact_write_json([]) == {}
    assert len(peer.seen) == 4
    assert peer.connections == 2


def test_a_cancelled_transaction_is_a_named_error_with_its_reasons_and_no_body_in_its_text(
    peer: Peer,
) -> None:
    # GIVEN DynamoDB cancelling a transaction
    db = client(peer, reply(400, CANCELLED))
    # WHEN the ledger commits
    with pytest.raises(DynamoDBError) as raised:
        db.transact_write_json(['{"Put":{"Item":{"h":{"S":"ada@example.com"}}}}'])
    # THEN it is not tried again, and the error has botocore's shape: code and reasons, nothing sent
    assert len(peer.seen) == 1
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == [
        "None",
        "ConditionalCheckFailed",
    ]
    assert "ada" not in str(raised.value)
    assert "cancelled" not in str(raised.value)


def test_throttling_and_server_errors_are_tried_once_more(peer: Peer) -> None:
    # GIVEN DynamoDB throttling once, then answering
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    db = client(peer, reply(400, throttled), reply(200, {}))
    # WHEN a transaction is written THEN the second attempt's answer is the result
    assert db.transact_write_json([]) == {}
    assert len(peer.seen) == 2


def test_every_attempt_failing_raises_the_last_error(peer: Peer) -> None:
    # GIVEN DynamoDB failing every attempt (all fail)
    db = client(peer, reply(503, b"<html>busy</html>"))
    # WHEN read THEN both attempts are made and the error names the status, not the body
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_json('{"RequestItems":{}}')
    assert len(peer.seen) == 2
    assert raised.value.code == "HTTP503"
    assert "busy" not in str(raised.value)


def test_a_network_failure_is_a_named_error_tried_once_more(peer: Peer) -> None:
    # GIVEN DynamoDB dropping every connection without an answer
    db = client(peer, drop)
    # WHEN read THEN both attempts are made, on a new connection each, and the error is a network one
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_json('{"RequestItems":{}}')
    assert len(peer.seen) == 2
    assert peer.connections == 2
    assert raised.value.code == "ConnectionResetError"
    assert raised.value.status == 0


def test_a_refused_connection_is_a_network_error() -> None:
    # GIVEN an endpoint nobody listens on
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()
    db = DynamoDBClient(f"http://127.0.0.1:{port}", "eu-west-1", Credentials("AKIDEXAMPLE", "secret"))
    # WHEN read THEN the error names the refusal, with no HTTP status
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_json('{"RequestItems":{}}')
    assert raised.value.code == "ConnectionRefusedError"
    assert raised.value.status == 0


def test_a_trickling_answer_ends_within_the_call_s_time(peer: Peer) -> None:
    # GIVEN DynamoDB sending its answer's body a byte every 0.1 s (each read well within the client's
    # own 2 s read timeout), and 1 s left for the call
    db = client(peer, trickle)
    # WHEN read
    started = time.monotonic()
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_json('{"RequestItems":{}}', limit_s=1.0)
    # THEN both attempts together ended when the second was over, as a timeout
    assert time.monotonic() - started < 1.5
    assert raised.value.code in {"TimeoutError", "TimeBudget"}
    assert raised.value.status == 0


def chunked(handler: BaseHTTPRequestHandler) -> None:
    """A 200 framed by chunks, not by Content-Length."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"2\r\n{}\r\n0\r\n\r\n")


def test_an_answer_not_framed_by_its_content_length_is_refused_as_a_network_failure(peer: Peer) -> None:
    # GIVEN DynamoDB answering in chunks (it frames every answer by Content-Length)
    db = client(peer, chunked)
    # WHEN read THEN the answer is not taken; both attempts are made, and the error has no HTTP status
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_json('{"RequestItems":{}}')
    assert len(peer.seen) == 2
    assert (raised.value.code, raised.value.status) == ("ConnectionError", 0)


def test_an_answer_past_the_size_cap_is_not_read_to_its_end(peer: Peer) -> None:
    # GIVEN DynamoDB sending an answer larger than the function reads (transport.MAX_RESPONSE_BYTES)
    db = client(peer, reply(200, b" " * (MAX_RESPONSE_BYTES + 1)))
    # WHEN read THEN reading stops at the cap, as a network failure
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_json('{"RequestItems":{}}')
    assert (raised.value.code, raised.value.status) == ("ResponseTooLarge", 0)


def test_every_attempt_is_told_to_the_send_listeners(peer: Peer) -> None:
    # GIVEN a listener on the client and DynamoDB throttling once
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    db = client(peer, reply(400, throttled), reply(200, {}))
    heard: list[tuple[str, bytes]] = []
    db.on_send.append(lambda target, body: heard.append((target, body)))
    # WHEN a transaction is written THEN the listener heard both attempts, target and body
    db.transact_write_json([])
    assert heard == [("DynamoDB_20120810.TransactWriteItems", b'{"TransactItems":[]}')] * 2


def test_a_validation_error_is_final() -> None:
    error = error_of(400, json.dumps({"__type": "x#ValidationException", "message": "too many"}).encode())
    assert error.code == "ValidationException"
    assert not retryable(error)
    assert retryable(error_of(500, b"not json"))


def test_the_ledger_reports_a_conflict_from_this_client_s_cancellation(peer: Peer) -> None:
    # GIVEN DynamoDB cancelling the first transaction for the second contact's condition, then accepting
    ledger = VersionLedger(client(peer, reply(400, CANCELLED), reply(200, {})), "versions")
    changes = [(("a@example.com", "EMAIL"), History(), {}), (("b@example.com", "EMAIL"), History(), {})]
    # WHEN both are committed
    report = ledger.commit(changes)
    # THEN the second is a conflict and the first is written on the retry
    assert report.conflicts == {("b@example.com", "EMAIL")}
    assert not report.failed
    assert len(json.loads(peer.seen[1].body)["TransactItems"]) == 1
