"""Fixtures for the local runtime and event-source tests: test handlers (never the product's), small
queues in the session's moto server, and a helper that runs an event source until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from local_helpers import HANDLERS

from local.aws.event_source import EventSourceMapping, SqsEventSource, default_sqs_client
from local.aws.runtime import FunctionSpec


@pytest.fixture
def probe_spec() -> Callable[..., FunctionSpec]:
    """A FunctionSpec for one of tests/local/handlers/probe.py's handlers."""

    def make(handler: str, timeout_s: float = 5.0, **environment: str) -> FunctionSpec:
        return FunctionSpec(
            handler=f"probe.{handler}", code_uri=HANDLERS, timeout_s=timeout_s, environment=environment
        )

    return make


@pytest.fixture
def sqs(aws: str) -> Any:
    """A boto3 SQS client on the session's moto server."""
    return default_sqs_client("us-east-1", aws)


@pytest.fixture
def make_queue(sqs: Any) -> Callable[..., tuple[str, str]]:
    """Create a queue; returns (url, arn)."""
    counter = iter(range(10_000))

    def make(visibility_s: int = 30, fifo: bool = False, **attributes: str) -> tuple[str, str]:
        name = f"q{next(counter)}-{time.monotonic_ns()}" + (".fifo" if fifo else "")
        attrs = {"VisibilityTimeout": str(visibility_s), **attributes}
        if fifo:
            attrs["FifoQueue"] = "true"
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    return make


@pytest.fixture
def run_source(aws: str) -> Iterator[Callable[..., SqsEventSource]]:
    """Run an event source until `until(source)` holds (or `timeout_s`), then stop it."""
    started: list[SqsEventSource] = []

    def run(
        mapping: EventSourceMapping,
        spec: FunctionSpec,
        until: Callable[[SqsEventSource], bool],
        timeout_s: float = 20.0,
    ) -> SqsEventSource:
        source = SqsEventSource(mapping, spec, sqs_client=lambda: default_sqs_client("us-east-1", aws))
        started.append(source)
        source.start()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not until(source):
            time.sleep(0.05)
        source.stop()
        return source

    yield run
    for source in started:
        source.abort()
