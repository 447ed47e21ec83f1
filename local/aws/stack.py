"""The one local AWS stack: moto started, the template's resources provisioned, the function's
environment and event source built from the template. `make run`, `make chaos`, `make bench` and the
integration fixtures all stand it up this way, so none of them can drift from the others or from
template.yaml.

    with local_aws(log_dir) as aws:                        # moto up; this process's AWS calls go to it
        deployment = aws.provision(template, token=TOKEN, overrides={"HubSpotApiBaseUrl": url})
        spec = deployment.function_spec(shard=0)           # handler, CodeUri, timeout, memory, env
        source = deployment.event_source(0, spec)          # the template's SQS event source mapping

`separate=("dynamodb", "secretsmanager")` serves those services from a second moto process, as they
are separate services in AWS (one moto process serving a chaos run's every call saturates one core).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.aws import template_model
from local.aws.event_source import EventSourceMapping, SqsEventSource, default_sqs_client
from local.aws.moto import MotoServer
from local.aws.provision import DEFAULT_SECRET_PATTERN, Provisioned, provision, resolve_environment
from local.aws.runtime import FunctionSpec
from local.aws.template_model import REPO_ROOT

REGION = "us-east-1"
CLOSED_PORT = "http://127.0.0.1:9"  # where a stray AWS call lands before moto is up
# boto3's per-service endpoint variables (the service ids "SQS", "Secrets Manager", "DynamoDB")
ENDPOINT_VARIABLES = {
    "sqs": "AWS_ENDPOINT_URL_SQS",
    "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
}
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def endpoint_variables(endpoints: Mapping[str, str]) -> dict[str, str]:
    """AWS_ENDPOINT_URL (the SQS endpoint) and one AWS_ENDPOINT_URL_<SERVICE> per service."""
    variables = {"AWS_ENDPOINT_URL": endpoints["sqs"]}
    variables.update({ENDPOINT_VARIABLES[service]: url for service, url in endpoints.items()})
    return variables


def guard_environment(endpoints: Mapping[str, str] | str) -> None:
    """Every AWS client this process builds goes to these endpoints (moto), with dummy credentials."""
    if isinstance(endpoints, str):
        endpoints = dict.fromkeys(ENDPOINT_VARIABLES, endpoints)
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_PROFILE",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    ):
        os.environ.pop(name, None)
    os.environ.update(DUMMY_CREDENTIALS)
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ.update(endpoint_variables(endpoints))


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client for one service at `endpoint` (SQS with the event source's retry settings)."""
    if service == "sqs":
        return default_sqs_client(REGION, endpoint)
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@dataclass
class LocalAws:
    """The running moto endpoints, by service (sqs, secretsmanager, dynamodb)."""

    endpoints: dict[str, str]

    @classmethod
    def at(cls, endpoint: str) -> LocalAws:
        """Every service at one endpoint (one moto server)."""
        return cls(dict.fromkeys(ENDPOINT_VARIABLES, endpoint))

    @property
    def endpoint(self) -> str:
        """The SQS endpoint (the one the event source and the feeder use)."""
        return self.endpoints["sqs"]

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoints[service])

    def provision(
        self,
        template: Path = template_model.DEFAULT_TEMPLATE,
        *,
        token: str,
        overrides: Mapping[str, str] | None = None,
        shards: int = 1,
        tables: bool = True,
        portal_tokens: Mapping[int, str] | None = None,
        secret_pattern: str = DEFAULT_SECRET_PATTERN,
        default_portal_id: int | None = None,
    ) -> Deployment:
        """Create the template's queue (or `shards` copies), DLQ with its redrive policy, secret (holding
        `token`) and, with `tables`, its DynamoDB tables; resolve its deployment settings. With
        `portal_tokens` (portal id -> token), one secret per portal named by `secret_pattern`, and the
        function in multi-portal mode (local/aws/provision.py)."""
        settings = template_model.deployment_settings(template, overrides or None)
        provisioned = provision(
            self.client("sqs"),
            self.client("secretsmanager"),
            template,
            token=token,
            shards=shards,
            overrides=overrides,
            dynamodb=self.client("dynamodb") if tables else None,
            portal_tokens=portal_tokens,
            secret_pattern=secret_pattern,
            default_portal_id=default_portal_id,
        )
        return Deployment(self, settings, provisioned)


@dataclass
class Deployment:
    """The template provisioned on a LocalAws, with the settings it was resolved with."""

    aws: LocalAws
    settings: template_model.DeploymentSettings
    provisioned: Provisioned
    function_name: str = "local-status-writer"
    notes: list[str] = field(default_factory=list)

    def function_environment(
        self, shard: int = 0, overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The template's function environment with its resource references resolved to the local
        resources of `shard`, the endpoints and dummy credentials, then `overrides`."""
        env = resolve_environment(self.settings.environment, self.provisioned.placeholders(shard))
        env.update(self.provisioned.environment())
        env.update(DUMMY_CREDENTIALS)
        env.update(endpoint_variables(self.aws.endpoints))
        env.update(overrides or {})
        return env

    def function_spec(
        self, shard: int = 0, *, overrides: Mapping[str, str] | None = None, timeout_s: float | None = None
    ) -> FunctionSpec:
        """What the worker runtime needs to run the template's function for `shard`."""
        return FunctionSpec(
            handler=self.settings.handler,
            code_uri=REPO_ROOT / self.settings.code_uri,
            timeout_s=self.settings.function_timeout_s if timeout_s is None else timeout_s,
            memory_mb=self.settings.memory_mb,
            function_name=self.function_name,
            environment=self.function_environment(shard, overrides),
            region=REGION,
        )

    def mapping(
        self, shard: int = 0, *, slots: int | None = None, poll_wait_s: int = 20
    ) -> EventSourceMapping:
        """The template's SQS event source mapping on `shard` (`slots`: its MaximumConcurrency)."""
        queue = self.provisioned.queues[shard]
        return EventSourceMapping(
            queue_url=queue.url,
            queue_arn=queue.arn,
            batch_size=self.settings.batch_size,
            batching_window_s=self.settings.batching_window_s,
            maximum_concurrency=slots or self.settings.maximum_concurrency,
            region=REGION,
            poll_wait_s=poll_wait_s,
        )

    def event_source(
        self,
        shard: int,
        spec: FunctionSpec,
        *,
        slots: int | None = None,
        poll_wait_s: int = 20,
        **options: Any,
    ) -> SqsEventSource:
        """A poller for `shard` running `spec` (options: log_dir, on_receive, on_invocation,
        environments, as SqsEventSource takes them)."""
        endpoint = self.aws.endpoint
        return SqsEventSource(
            self.mapping(shard, slots=slots, poll_wait_s=poll_wait_s),
            spec,
            sqs_client=lambda: default_sqs_client(REGION, endpoint),
            name=f"shard{shard}",
            **options,
        )


@contextlib.contextmanager
def local_aws(
    log_dir: Path | None = None,
    *,
    pristine: bool = False,
    separate: Sequence[str] = (),
    visibility_log: Path | None = None,
) -> Iterator[LocalAws]:
    """moto started (and a second one for the `separate` services); this process's AWS clients point
    at them until the block ends, when every moto process is stopped. `visibility_log`: where the SQS
    server records every visibility change (local.aws.moto.record_visibility_changes)."""
    guard_environment(CLOSED_PORT)
    with contextlib.ExitStack() as stack:
        main = stack.enter_context(
            MotoServer(
                log_file=log_dir / "moto.log" if log_dir else None,
                pristine=pristine,
                visibility_log=visibility_log,
            )
        )
        endpoints = dict.fromkeys(ENDPOINT_VARIABLES, main.endpoint)
        if separate:
            aux = stack.enter_context(
                MotoServer(log_file=log_dir / "moto-aux.log" if log_dir else None, pristine=pristine)
            )
            endpoints.update(dict.fromkeys(separate, aux.endpoint))
        guard_environment(endpoints)
        yield LocalAws(endpoints)
