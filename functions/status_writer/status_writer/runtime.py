"""The clients one execution environment keeps between warm invocations, and what one invocation
carries along its data path (the runtime, its deadline and its call statistics)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from status_writer.calls import CallContext
from status_writer.config import Settings
from status_writer.credentials import Credentials, powertools_fetcher
from status_writer.dead_letter import DeadLetterQueue
from status_writer.deadline import Deadline, RemainingTime
from status_writer.dynamodb import DynamoDBClient
from status_writer.hubspot import HubSpotClient
from status_writer.ledger import VersionLedger
from status_writer.per_contact import RouteModes
from status_writer.rate_limit import RateLimitPacer
from status_writer.routes import ApiPaths
from status_writer.transport import make_http_client
from status_writer.visibility import VisibilityScheduler

# AWS calls must fit in the deadline's safety margin.
AWS_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})


@dataclass
class Runtime:
    """What one execution environment keeps between warm invocations."""

    settings: Settings
    hubspot: HubSpotClient
    dead_letters: DeadLetterQueue
    visibility: VisibilityScheduler
    executor: ThreadPoolExecutor
    ledger: VersionLedger | None = None

    @classmethod
    def create(cls, settings: Settings, transport: Any = None, sqs: Any = None) -> Runtime:
        """Build the clients once; ``transport`` replaces HubSpot's network (benchmarks only)."""
        http = make_http_client(settings, transport)
        sqs_client = sqs if sqs is not None else boto3.client("sqs", config=AWS_CONFIG)
        return cls(
            settings=settings,
            hubspot=HubSpotClient(
                http,
                Credentials(settings.secret_id, http, powertools_fetcher(AWS_CONFIG)),
                RateLimitPacer(),
                paths=ApiPaths(settings.api_version),
                modes=RouteModes(settings.batch_mode, workers=settings.max_in_flight),
            ),
            dead_letters=DeadLetterQueue(sqs_client, settings.dead_letter_queue_url),
            visibility=VisibilityScheduler(sqs_client),
            executor=ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix="hubspot"),
            ledger=None
            if settings.version_table is None
            else VersionLedger(DynamoDBClient.from_environment(), settings.version_table),
        )


@dataclass
class Invocation:
    """One invocation: the environment's runtime and ``call``, its time budget with what the HubSpot
    calls cost (one value, handed as is to every call)."""

    runtime: Runtime
    call: CallContext

    @classmethod
    def start(cls, runtime: Runtime, context: RemainingTime) -> Invocation:
        return cls(runtime, CallContext(Deadline(context, runtime.settings.call_budget_ms)))
