"""The bench's world, all on loopback: moto (Secrets Manager with the token, the queue and its DLQ), the
HubSpot emulator, and the environment each execution environment gets (the template's function
variables with local endpoints, as `make run` resolves them).

moto runs in a process of its own (the local stack, local.aws.stack); the emulator is a thread of the bench's process,
which otherwise only waits for its workers; every handler runs in a worker process of its own
(bench.environment).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.environment import FUNCTION_CODE_URI
from bench.workload import REGION
from local.aws import template_model
from local.aws.provision import DEFAULT_SECRET_PATTERN, create_portal_secrets, resolve_environment
from local.aws.stack import LocalAws, local_aws
from local.hubspot_emulator import Emulator, EmulatorConfig, Faults, PortalSpec, running_emulator
from local.hubspot_emulator.core import EmulatorCore

TOKEN = "pat-na1-bench-0000-1111-2222-333333333333"  # noqa: S105 - a dummy token for the loopback emulator
SECRET_NAME = "bench/hubspot-token"  # noqa: S105 - a name, not a secret
UNLIMITED = 1_000_000_000  # a rate or daily limit no run reaches
LEDGER_VARIABLE = "VERSION_TABLE_NAME"  # the function's DynamoDB ordering ledger (empty: off)
FRESHNESS_VARIABLE = "HUBSPOT_FRESHNESS_CHECK"  # README: Outcomes, HubSpot-side changes
# Figures 1, 2 and 6 measure the write path, as they did before the freshness check: their targets
# count batch writes only. Figure 7 (bench/freshness.py) measures the check.
CHECK_OFF = {FRESHNESS_VARIABLE: "off"}


@dataclass
class World:
    moto_endpoint: str
    secret_arn: str
    queue_url: str
    dlq_url: str
    emulator: Emulator
    settings: template_model.DeploymentSettings
    log_dir: Path
    code_uri: Path
    _logs: int = field(default=0)
    _portals: dict[int, str] = field(default_factory=dict)  # portal id -> token, once served

    def configure_emulator(
        self,
        *,
        rate_limit_max: int = UNLIMITED,
        rate_limit_interval_ms: int = 10_000,
        latency_ms: float = 0.0,
        latency_max_ms: float | None = None,
        request_log_limit: int = 1,
        seed: int = 7,
    ) -> None:
        """Empty state, fresh rate-limit windows and counters, then this run's limits and latency."""
        configure_portal(
            self.emulator,
            rate_limit_max=rate_limit_max,
            rate_limit_interval_ms=rate_limit_interval_ms,
            latency_ms=latency_ms,
            latency_max_ms=latency_max_ms,
            request_log_limit=request_log_limit,
            seed=seed,
        )

    def serve_portals(self, tokens: Mapping[int, str]) -> str:
        """More portals besides the first (README: Many portals; docs/emulator.md, Several portals): the
        emulator serves each with its token, moto holds each token in the portal's own secret. Returns
        the secret name pattern, the function's ``HUBSPOT_SECRET_ID`` for them. Portals already served
        with the same token are left as they are."""
        new = {portal: token for portal, token in tokens.items() if portal not in self._portals}
        clash = {p for p, token in tokens.items() if p in self._portals and self._portals[p] != token}
        if clash:
            raise ValueError(f"portals {sorted(clash)} are served with another token")
        if new:
            create_portal_secrets(LocalAws.at(self.moto_endpoint).client("secretsmanager"), new)
            for portal, token in new.items():
                self.emulator.add_portal(PortalSpec(portal, (token,)))
            self._portals.update(new)
        return DEFAULT_SECRET_PATTERN

    def function_env(self, ledger: bool = False, **overrides: str) -> dict[str, str]:
        """What one execution environment sees: the template's variables (defaults) with local endpoints.

        ``ledger=False`` leaves the ordering ledger's table name empty, which turns the ledger off: the
        only local DynamoDB, moto, is far slower than DynamoDB (bench/README.md), so with the ledger on
        a figure measures moto more than the function.
        """
        env = {
            name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TZ", "HOME") if name in os.environ
        }
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": self.moto_endpoint,
                "AWS_ENDPOINT_URL_SQS": self.moto_endpoint,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto_endpoint,
                "AWS_ENDPOINT_URL_DYNAMODB": self.moto_endpoint,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_LAMBDA_FUNCTION_NAME": "bench-status-writer",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.settings.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.settings.function_timeout_s),
            }
        )
        env.update(self.settings.environment)
        env.update(
            {
                "HUBSPOT_SECRET_ID": self.secret_arn,
                "HUBSPOT_API_BASE_URL": self.emulator.base_url,
                "DEAD_LETTER_QUEUE_URL": self.dlq_url,
            }
        )
        if not ledger and LEDGER_VARIABLE in env:
            env[LEDGER_VARIABLE] = ""
        env.update(overrides)
        return env

    @property
    def has_ledger(self) -> bool:
        return bool(self.settings.environment.get(LEDGER_VARIABLE))

    def log_path(self, name: str) -> Path:
        self._logs += 1
        return self.log_dir / f"{self._logs:02d}-{name}.log"


def configure_portal(
    portal: EmulatorCore,
    *,
    rate_limit_max: int = UNLIMITED,
    rate_limit_interval_ms: int = 10_000,
    latency_ms: float = 0.0,
    latency_max_ms: float | None = None,
    request_log_limit: int = 1,
    seed: int = 7,
) -> None:
    """One portal of the emulator: empty state, fresh rate-limit windows and counters, then these
    limits and latency (no daily limit)."""
    portal.reset()
    portal.configure(
        rate_limit_max=rate_limit_max,
        rate_limit_interval_ms=rate_limit_interval_ms,
        daily_limit=UNLIMITED,
        request_log_limit=request_log_limit,
    )
    portal.set_faults(Faults(latency_ms=latency_ms, latency_max_ms=latency_max_ms, seed=seed))


@contextlib.contextmanager
def world(
    log_dir: Path, code_uri: Path = FUNCTION_CODE_URI, template: Path = template_model.DEFAULT_TEMPLATE
) -> Iterator[World]:
    """moto and the emulator started, the template's secret, queues and tables provisioned by the local
    stack (local.aws.stack, as `make run` does); everything stopped on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (
        local_aws(log_dir) as aws,
        running_emulator(EmulatorConfig(daily_limit=UNLIMITED), tokens=[TOKEN]) as emulator,
    ):
        deployment = aws.provision(template, token=TOKEN, overrides={"HubSpotApiBaseUrl": emulator.base_url})
        provisioned = deployment.provisioned
        environment = resolve_environment(deployment.settings.environment, provisioned.placeholders(0))
        settings = dataclasses.replace(deployment.settings, environment=environment)
        yield World(
            aws.endpoint,
            provisioned.secret_arn,
            provisioned.queues[0].url,
            provisioned.dead_letter_queue.url,
            emulator,
            settings,
            log_dir,
            code_uri,
        )
