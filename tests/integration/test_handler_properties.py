"""Property: whatever the records and whatever HubSpot answers, the pipeline never raises, every record
ends in exactly one outcome, and the response lists exactly the retryable ones. HubSpot is an in-process
httpx transport serving generated answers; SQS and Secrets Manager are moto server."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_writer.config import Settings
from status_writer.model import Outcome
from status_writer.observability import metrics
from status_writer.pipeline import Runtime, process_batch

from tests.factories import LambdaContext, sqs_event, sqs_record, status_body, unsubscribe_all_body

EMAILS = ["ada@example.com", "Ada@Example.com", "bob@example.com", "cy@example.org"]
SUBSCRIPTIONS = [1001, 1002, 999999]

valid_write = st.builds(
    lambda email, sub, state, at: status_body(email, sub, state, occurredAt=at),
    st.sampled_from(EMAILS),
    st.sampled_from(SUBSCRIPTIONS),
    st.sampled_from(["SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"]),
    st.sampled_from(["2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z", "2026-01-05T11:00:00+02:00"]),
)
valid_unsubscribe = st.builds(
    unsubscribe_all_body,
    st.sampled_from(EMAILS),
    st.sampled_from([None, 0, 1]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
bodies = st.one_of(
    valid_write.map(json.dumps),
    valid_unsubscribe.map(json.dumps),
    valid_write.map(lambda body: json.dumps({"Type": "Notification", "Message": json.dumps(body)})),
    valid_write.map(lambda body: json.dumps({"detail-type": "x", "source": "y", "detail": body})),
    json_values.map(json.dumps),
    st.text(max_size=50),
)


def result_for(email: str, sub: int) -> dict[str, Any]:
    return {"subscriberIdString": email, "subscriptionId": sub, "channel": "EMAIL", "status": "SUBSCRIBED"}


answer_bodies = st.one_of(
    st.builds(
        lambda status, results, errors: {"status": status, "results": results, "errors": errors},
        st.sampled_from(["COMPLETE", "COMPLETE", "PROCESSING", None]),
        st.lists(
            st.builds(
                result_for,
                st.sampled_from([e.lower() for e in EMAILS] + ["never@sent.com"]),
                st.sampled_from(SUBSCRIPTIONS),
            )
            | st.builds(lambda e: {"subscriberIdString": e, "statuses": []}, st.sampled_from(EMAILS))
            | json_values,
            max_size=6,
        ),
        st.lists(
            st.builds(
                lambda category, ids: {"category": category, "message": "x", "context": {"ids": ids}},
                st.sampled_from(["VALIDATION_ERROR", "INTERNAL_ERROR", None]),
                st.lists(st.sampled_from([*EMAILS, "1001", "nothing"]), max_size=2),
            )
            | json_values,
            max_size=3,
        ),
    ),
    json_values,
)
answers = st.tuples(
    st.sampled_from([200, 207, 200, 207, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504, 302, 418]),
    st.one_of(
        answer_bodies.map(lambda body: json.dumps(body).encode()),
        st.binary(max_size=40),
        st.just(b'{"status": "COMPL'),
    ),
    st.sampled_from(
        [
            {},
            {"retry-after": "0"},
            {
                "x-hubspot-ratelimit-max": "5",
                "x-hubspot-ratelimit-remaining": "0",
                "x-hubspot-ratelimit-interval-milliseconds": "50",
            },
        ]
    ),
)


@pytest.fixture(scope="module")
def aws_world(moto_endpoint: str) -> Iterator[tuple[Any, str, str]]:
    """A secret and a DLQ in moto, reached through the standard endpoint variables."""
    patch = pytest.MonkeyPatch()
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        patch.setenv(name, moto_endpoint)
    sqs = boto3.client("sqs")
    secret = f"props-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"accessToken": "pat-na1-x"})
    )
    dlq = sqs.create_queue(QueueName=f"props-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield sqs, secret, dlq
    patch.undo()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(bodies, min_size=1, max_size=12), replies=st.lists(answers, min_size=1, max_size=6))
def test_every_record_ends_in_exactly_one_outcome_whatever_hubspot_answers(
    aws_world: tuple[Any, str, str], records: list[str], replies: list[tuple[int, bytes, dict[str, str]]]
) -> None:
    sqs, secret, dlq = aws_world
    answers_cycle = itertools.cycle(replies)

    def hubspot(request: httpx.Request) -> httpx.Response:
        status, content, headers = next(answers_cycle)
        return httpx.Response(status, content=content, headers=headers)

    config = Settings(
        secret_id=secret,
        api_base_url="http://127.0.0.1:9",
        connect_timeout_s=0.2,
        read_timeout_s=0.5,
        dead_letter_queue_url=dlq,
        backoff_base_s=0,
    )
    runtime = Runtime.create(config, transport=httpx.MockTransport(hubspot), sqs=sqs)
    event = sqs_event(*(sqs_record(body, message_id=f"m-{n}") for n, body in enumerate(records)))
    try:
        report = process_batch(event, LambdaContext(timeout_ms=7_000), runtime)
    finally:
        runtime.executor.shutdown(wait=True)
        runtime.hubspot.close()
        # process_batch adds metrics that only the handler's decorator publishes: drop them, or they
        # pile up in Powertools' shared metric set and a later test's handler publishes them early
        metrics.clear_metrics()
    ids = [record["messageId"] for record in event["Records"]]
    assert set(report.outcomes) == set(ids)
    assert all(isinstance(outcome, Outcome) for outcome in report.outcomes.values())
    listed = [item["itemIdentifier"] for item in report.response["batchItemFailures"]]
    assert listed == [mid for mid in ids if report.outcomes[mid] is Outcome.RETRYABLE]
