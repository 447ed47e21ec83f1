"""The clients one execution environment keeps between warm invocations, and what one invocation
carries along its data path (the runtime, its deadline and its call statistics)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from status_writer.calls import CallContext
from status_writer.config import PORTAL_MAX_WAIT_S, PORTALS_IN_FLIGHT, Settings
from status_writer.credentials import Credentials, powertools_fetcher
from status_writer.dead_letter import DeadLetterQueue
from status_writer.deadline import Deadline, RemainingTime
from status_writer.dynamodb import DynamoDBClient
from status_writer.hubspot import HubSpotClient
from status_writer.ledger import VersionLedger
from status_writer.per_contact import RouteModes
from status_writer.portals import Portal, secret_name
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
    portals: dict[str, Runtime] = field(default_factory=dict, repr=False)  # multi-portal: one per portal
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _portal_pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def portal_pool(self) -> ThreadPoolExecutor:
        """Threads that deliver several portals' shares of a batch side by side (started on first use)."""
        with self._lock:
            if self._portal_pool is None:
                self._portal_pool = ThreadPoolExecutor(PORTALS_IN_FLIGHT, thread_name_prefix="portal")
            return self._portal_pool

    @classmethod
    def create(cls, settings: Settings, transport: Any = None, sqs: Any = None) -> Runtime:
        """Build the clients once; ``transport`` replaces HubSpot's network (benchmarks only)."""
        http = make_http_client(settings, transport)
        sqs_client = sqs if sqs is not None else boto3.client("sqs", config=AWS_CONFIG)
        return cls(
            settings=settings,
            hubspot=_hubspot(settings, http, settings.secret_id),
            dead_letters=DeadLetterQueue(sqs_client, settings.dead_letter_queue_url),
            visibility=VisibilityScheduler(sqs_client),
            executor=_executor(settings),
            ledger=None
            if settings.version_table is None
            else VersionLedger(DynamoDBClient.from_environment(), settings.version_table),
        )

    def for_portal(self, portal: Portal) -> Runtime:
        """The runtime of one portal (README: Many portals): its own credential, pacing, per-contact
        mode and call slots, so a throttled or broken portal delays only its own messages; the HTTP
        connections, SQS clients and ledger table are shared, the ledger's keys are the portal's."""
        if portal is None:
            return self
        with self._lock:
            known = self.portals.get(portal)
            if known is None:
                known = self.portals[portal] = Runtime(
                    settings=self.settings,
                    hubspot=_hubspot(
                        self.settings, self.hubspot.http, secret_name(self.settings.secret_id, portal)
                    ),
                    dead_letters=self.dead_letters,
                    visibility=self.visibility,
                    executor=_executor(self.settings),
                    ledger=None if self.ledger is None else self.ledger.for_portal(portal),
                )
                known.hubspot.waits.most_s = PORTAL_MAX_WAIT_S
            return known


def _hubspot(settings: Settings, http: Any, secret_id: str) -> HubSpotClient:
    return HubSpotClient(
        http,
        Credentials(secret_id, http, powertools_fetcher(AWS_CONFIG)),
        RateLimitPacer(),
        paths=ApiPaths(settings.api_version),
        modes=RouteModes(settings.batch_mode, workers=settings.max_in_flight),
    )


def _executor(settings: Settings) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix="hubspot")


class PortalsInFlight:
    """The portals of one invocation still delivering (README: Many portals). A portal's rate-limit
    wait holds nobody back while another portal of the batch is still delivering and none waits for a
    free slot of the portal pool: only the rest of its wait counts against ``PORTAL_MAX_WAIT_S``."""

    def __init__(self, portals: int) -> None:
        self._lock = threading.Lock()
        self._waiting, self._running = portals, 0

    def started(self) -> None:
        with self._lock:
            self._waiting, self._running = self._waiting - 1, self._running + 1

    def finished(self) -> None:
        with self._lock:
            self._running -= 1

    def others_busy(self) -> bool:
        """Called by a running portal: another one still delivers, and none is queued behind it."""
        with self._lock:
            return self._waiting == 0 and self._running > 1


@dataclass
class Invocation:
    """One invocation: the environment's runtime and ``call``, its time budget with what the HubSpot
    calls cost (one value, handed as is to every call)."""

    runtime: Runtime
    call: CallContext

    @classmethod
    def start(cls, runtime: Runtime, context: RemainingTime) -> Invocation:
        return cls(runtime, CallContext(Deadline(context, runtime.settings.call_budget_ms)))

    def for_portal(self, portal: Portal, in_flight: PortalsInFlight | None = None) -> Invocation:
        """The same invocation (one deadline, one set of statistics) with one portal's runtime."""
        if portal is None:
            return self
        runtime = self.runtime.for_portal(portal)
        if in_flight is None:
            runtime.hubspot.waits.start()
        else:
            runtime.hubspot.waits.start(in_flight.others_busy)
        return Invocation(runtime, self.call)
