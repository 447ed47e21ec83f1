"""The moto subprocess `make run` uses: loopback only, stopped with its process, and its speed-ups and
thread-safety fixes leave SQS and DynamoDB answering as before."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.aws.event_source import default_sqs_client
from local.aws.moto import MotoServer
from local.aws.provision import create_table


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def sqs(moto: MotoServer) -> Any:
    return default_sqs_client("us-east-1", moto.endpoint)


def test_it_listens_on_loopback_and_stops_with_its_process() -> None:
    server = MotoServer()
    endpoint = server.start()
    pid = server.pid
    assert endpoint.startswith("http://127.0.0.1:")
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_visibility_timeouts_delays_and_redrive_still_behave(sqs: Any) -> None:
    # GIVEN a queue with a 1 s visibility timeout redriving after one receive, and a delayed message
    dlq = sqs.create_queue(QueueName=f"dlq-{time.monotonic_ns()}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = sqs.create_queue(
        QueueName=f"q-{time.monotonic_ns()}", Attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="now")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    # WHEN it is received at once, then after the timeout
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    time.sleep(1.3)
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # THEN the delayed message shows up only after its delay, and the received one moved to the DLQ
    assert [m["Body"] for m in first] == ["now"]
    assert [m["Body"] for m in second] == ["later"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq).get("Messages", [])] == ["now"]


def test_concurrent_receives_and_deletes_neither_duplicate_nor_revive(sqs: Any, moto: MotoServer) -> None:
    # GIVEN 300 messages and three consumers deleting one message at a time, concurrently
    url = sqs.create_queue(QueueName=f"race-{time.monotonic_ns()}", Attributes={"VisibilityTimeout": "600"})[
        "QueueUrl"
    ]
    for start in range(0, 300, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)]
        )
    seen: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        client = default_sqs_client("us-east-1", moto.endpoint)
        while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            with lock:
                seen.extend(m["Body"] for m in messages)
            for message in messages:
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN each message was delivered once and none is left (visible or in flight)
    assert sorted(seen, key=int) == [str(n) for n in range(300)]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == ("0", "0")


def test_a_cancelled_transaction_changes_nothing(moto: MotoServer) -> None:
    # GIVEN the template's version table with one item
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.endpoint)
    table = create_table(dynamodb, f"t-{time.monotonic_ns()}")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "HEAD"}, "v": {"N": "1"}})
    # WHEN a transaction overwrites it, adds two items, then fails its last condition
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "a"}, "sk": {"S": "HEAD"}, "v": {"N": "2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "b"}, "sk": {"S": "HEAD"}, "v": {"N": "2"}},
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "v1"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "3"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "c"}, "sk": {"S": "HEAD"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    # THEN the table is exactly as before
    items = dynamodb.scan(TableName=table)["Items"]
    assert [(i["pk"]["S"], i["sk"]["S"], i["v"]["N"]) for i in items] == [("a", "HEAD", "1")]
    # AND a transaction that holds still applies all its items
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "b"}, "sk": {"S": "HEAD"}, "v": {"N": "5"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "HEAD"}}}},
        ]
    )
    items = dynamodb.scan(TableName=table)["Items"]
    assert [(i["pk"]["S"], i["v"]["N"]) for i in items] == [("b", "5")]


def test_concurrent_conditional_transactions_never_both_win(moto: MotoServer) -> None:
    # GIVEN a version counter and four writers, each bumping it only if it still holds what they read
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.endpoint)
    table = create_table(dynamodb, f"v-{time.monotonic_ns()}")
    key = {"pk": {"S": "k"}, "sk": {"S": "HEAD"}}
    dynamodb.put_item(TableName=table, Item={**key, "v": {"N": "0"}})
    won: list[str] = []

    def bump() -> None:
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.endpoint)
        for _ in range(15):
            seen = client.get_item(TableName=table, Key=key)["Item"]["v"]["N"]
            update = {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET v = v + :one",
                "ConditionExpression": "v = :seen",
                "ExpressionAttributeValues": {":seen": {"N": seen}, ":one": {"N": "1"}},
            }
            try:
                client.transact_write_items(TransactItems=[{"Update": update}])
                won.append(seen)
            except client.exceptions.TransactionCanceledException:
                pass

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN each version was won by exactly one writer, and the counter says how many won
    assert len(won) == len(set(won))
    assert dynamodb.get_item(TableName=table, Key=key)["Item"]["v"]["N"] == str(len(won))


def _dynamodb_request(connection: http.client.HTTPConnection, body: Any) -> http.client.HTTPResponse:
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    connection.request("POST", "/", body=body, headers=headers, encode_chunked=not isinstance(body, bytes))
    response = connection.getresponse()
    response.read()
    return response


def test_a_connection_serves_request_after_request_as_aws_endpoints_do(moto: MotoServer) -> None:
    # GIVEN one HTTP/1.1 connection to moto
    host, port = moto.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        # WHEN three requests go over it, one with a body far larger than one read of the socket
        bodies = [b"{}", json.dumps({"Limit": 10, "padding": "x" * 300_000}).encode(), b"{}"]
        answers, sockets = [], []
        for body in bodies:
            answers.append(_dynamodb_request(connection, body))
            sockets.append(connection.sock)
        # THEN each is answered on the same connection, none of them closing it
        assert [answer.status for answer in answers] == [200, 200, 200]
        assert [answer.getheader("Connection") for answer in answers] == [None, None, None]
        assert sockets[0] is not None
        assert all(sock is sockets[0] for sock in sockets)
        # AND a chunked body, which werkzeug reads itself, still closes its connection after the answer
        chunked = _dynamodb_request(connection, iter([b"{", b"}"]))
        assert chunked.status == 200
        assert chunked.getheader("Connection") == "close"
    finally:
        connection.close()
