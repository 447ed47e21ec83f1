"""The ledger's DynamoDB JSON client (dynamodb.py): endpoints, signed requests, answers and errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from botocore.credentials import Credentials
from status_writer.dynamodb import DynamoDBClient, DynamoDBError, endpoint_url, error_of, retryable
from status_writer.entries import History
from status_writer.ledger import VersionLedger

ENDPOINT = "http://127.0.0.1:4566"
CANCELLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
    "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed"}],
}


def client(answer: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]) -> DynamoDBClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return DynamoDBClient(http, ENDPOINT, "eu-west-1", Credentials("AKIDEXAMPLE", "secret"))


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


def test_a_request_is_the_operation_s_json_signed_for_dynamodb() -> None:
    # GIVEN DynamoDB answering a BatchGetItem
    seen: list[httpx.Request] = []
    answer = {"Responses": {"versions": [{"pk": {"S": "p"}, "n": {"N": "2"}}]}, "UnprocessedKeys": {}}
    db = client(lambda _: httpx.Response(200, json=answer), seen)
    request = {"versions": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": "CONTACT"}}], "ConsistentRead": True}}
    # WHEN the ledger's read asks for it
    got = db.batch_get_item(RequestItems=request)
    # THEN one POST carries the request as JSON, named by X-Amz-Target and signed with SigV4 for the
    # region's dynamodb scope; the answer comes back as DynamoDB sent it
    (sent,) = seen
    assert sent.method == "POST"
    assert sent.url.path == "/"
    assert json.loads(sent.content) == {"RequestItems": request}
    assert sent.headers["X-Amz-Target"] == "DynamoDB_20120810.BatchGetItem"
    assert sent.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/dynamodb/aws4_request" in sent.headers["Authorization"]
    assert "X-Amz-Date" in sent.headers
    assert got == answer


def test_a_cancelled_transaction_is_a_named_error_with_its_reasons_and_no_body_in_its_text() -> None:
    # GIVEN DynamoDB cancelling a transaction
    seen: list[httpx.Request] = []
    db = client(lambda _: httpx.Response(400, json=CANCELLED), seen)
    # WHEN the ledger commits
    with pytest.raises(DynamoDBError) as raised:
        db.transact_write_items(TransactItems=[{"Put": {"Item": {"h": {"S": "ada@example.com"}}}}])
    # THEN it is not tried again, and the error has botocore's shape: code and reasons, nothing sent
    assert len(seen) == 1
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == [
        "None",
        "ConditionalCheckFailed",
    ]
    assert "ada" not in str(raised.value)
    assert "cancelled" not in str(raised.value)


def test_throttling_and_server_errors_are_tried_once_more() -> None:
    # GIVEN DynamoDB throttling once, then answering
    seen: list[httpx.Request] = []
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    answers = [httpx.Response(400, json=throttled), httpx.Response(200, json={})]
    db = client(lambda _: answers[len(seen) - 1], seen)
    # WHEN a transaction is written THEN the second attempt's answer is the result
    assert db.transact_write_items(TransactItems=[]) == {}
    assert len(seen) == 2


def test_every_attempt_failing_raises_the_last_error() -> None:
    # GIVEN DynamoDB failing every attempt (all fail)
    seen: list[httpx.Request] = []
    db = client(lambda _: httpx.Response(503, content=b"<html>busy</html>"), seen)
    # WHEN read THEN both attempts are made and the error names the status, not the body
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_item(RequestItems={})
    assert len(seen) == 2
    assert raised.value.code == "HTTP503"
    assert "busy" not in str(raised.value)


def test_a_network_failure_is_a_named_error_tried_once_more() -> None:
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    db = client(refuse, seen)
    with pytest.raises(DynamoDBError) as raised:
        db.batch_get_item(RequestItems={})
    assert len(seen) == 2
    assert raised.value.code == "ConnectError"
    assert raised.value.status == 0


def test_a_validation_error_is_final() -> None:
    error = error_of(400, json.dumps({"__type": "x#ValidationException", "message": "too many"}).encode())
    assert error.code == "ValidationException"
    assert not retryable(error)
    assert retryable(error_of(500, b"not json"))


def test_the_ledger_reports_a_conflict_from_this_client_s_cancellation() -> None:
    # GIVEN DynamoDB cancelling the first transaction for the second contact's condition, then accepting
    seen: list[httpx.Request] = []
    answers = [httpx.Response(400, json=CANCELLED), httpx.Response(200, json={})]
    ledger = VersionLedger(client(lambda _: answers[len(seen) - 1], seen), "versions")
    changes = [(("a@example.com", "EMAIL"), History(), {}), (("b@example.com", "EMAIL"), History(), {})]
    # WHEN both are committed
    report = ledger.commit(changes)
    # THEN the second is a conflict and the first is written on the retry
    assert report.conflicts == {("b@example.com", "EMAIL")}
    assert not report.failed
    assert len(json.loads(seen[1].content)["TransactItems"]) == 1
