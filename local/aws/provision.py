"""Create the template's queue, dead-letter queue, secret and tables in moto, as template.yaml declares them.

The queue properties (visibility timeout, retention, redrive policy with maxReceiveCount, encryption
flags, FIFO settings) are read from the template's resources and turned into CreateQueue attributes, so
a local run cannot drift from the deployed stack. Resource references in the function's environment
(``${SubscriptionDeadLetterQueue}``, ``${HubSpotSecret}``, ``${X.Arn}``) are replaced with the local
stand-ins' URLs and ARNs.

`shards` > 1 creates several identical source queues (``name-0``, ``name-1``...) that share the one
DLQ: moto's SQS is O(queue length) per call, and several short queues keep each call cheap.

`portal_tokens` (portal id -> token) provisions a multi-portal deployment (README, Message contract:
`portalId`): one secret per portal, named by `secret_pattern` with ``{portalId}`` replaced by the id,
each holding that portal's token; the pattern is what the function's `HUBSPOT_SECRET_ID` becomes
(`Provisioned.environment`), with `default_portal_id` as `HUBSPOT_DEFAULT_PORTAL_ID` when given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.aws import template_model

QUEUE_TYPE = "AWS::SQS::Queue"
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type name
TABLE_TYPE = "AWS::DynamoDB::Table"
VERSION_TABLE_ID = "VersionTable"  # the ordering ledger
# CloudFormation AWS::DynamoDB::Table properties that CreateTable takes as they are.
TABLE_FIELDS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
)
# CloudFormation AWS::SQS::Queue properties that are CreateQueue attributes (same names).
QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
PORTAL_PLACEHOLDER = "{portalId}"
DEFAULT_SECRET_PATTERN = "hubspot/portal-{portalId}"  # noqa: S105 - a secret's name, not a secret
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?\}")


class UnresolvedReference(ValueError):
    """A ``${Resource}`` placeholder that names nothing created locally."""


@dataclass(frozen=True)
class QueueInfo:
    """A queue created in moto."""

    logical_id: str
    name: str
    url: str
    arn: str

    def placeholders(self) -> dict[str, str]:
        """What Ref and GetAtt of this queue resolve to."""
        return {
            f"${{{self.logical_id}}}": self.url,
            f"${{{self.logical_id}.Arn}}": self.arn,
            f"${{{self.logical_id}.QueueName}}": self.name,
            f"${{{self.logical_id}.QueueUrl}}": self.url,
        }


@dataclass(frozen=True)
class Provisioned:
    """Everything provisioned for a run: the source queue shards, the DLQ and the secret."""

    queues: list[QueueInfo]
    dead_letter_queue: QueueInfo
    secret_arn: str
    secret_name: str
    queue_attributes: dict[str, str]
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    notes: list[str] = field(default_factory=list)
    shared_placeholders: dict[str, str] = field(default_factory=dict)
    secret_pattern: str | None = None  # multi-portal: the per-portal secrets' name pattern
    portal_secrets: dict[int, str] = field(default_factory=dict)  # portal id -> its secret's name
    default_portal_id: int | None = None

    def placeholders(self, shard: int) -> dict[str, str]:
        """Placeholders for the function environment of the slots that poll `shard`."""
        return {**self.shared_placeholders, **self.queues[shard].placeholders()}

    def environment(self) -> dict[str, str]:
        """What a multi-portal deployment sets in the function's environment (nothing for one portal):
        `HUBSPOT_SECRET_ID` as the pattern, and `HUBSPOT_DEFAULT_PORTAL_ID` when there is a default."""
        if self.secret_pattern is None:
            return {}
        out = {"HUBSPOT_SECRET_ID": self.secret_pattern}
        if self.default_portal_id is not None:
            out["HUBSPOT_DEFAULT_PORTAL_ID"] = str(self.default_portal_id)
        return out


def portal_secret_name(pattern: str, portal_id: int) -> str:
    """The secret of one portal: `pattern` with ``{portalId}`` replaced by its id."""
    return pattern.replace(PORTAL_PLACEHOLDER, str(portal_id))


def create_portal_secrets(
    secretsmanager: Any, portal_tokens: Mapping[int, str], pattern: str = DEFAULT_SECRET_PATTERN
) -> dict[int, str]:
    """One secret per portal, named by `pattern`, holding ``{"accessToken": token}`` (the shape of the
    single secret); returns portal id -> secret name."""
    if PORTAL_PLACEHOLDER not in pattern:
        raise ValueError(f"the secret name pattern must contain {PORTAL_PLACEHOLDER}, got {pattern!r}")
    if not portal_tokens:
        raise ValueError("portal_tokens names no portal")
    names: dict[int, str] = {}
    for portal_id, token in portal_tokens.items():
        if isinstance(portal_id, bool) or not isinstance(portal_id, int) or portal_id < 1:
            raise ValueError(f"a portal id is a positive integer, got {portal_id!r:.40}")
        name = portal_secret_name(pattern, portal_id)
        secretsmanager.create_secret(Name=name, SecretString=json.dumps({"accessToken": token}))
        names[portal_id] = name
    return names


def substitute(value: str, placeholders: Mapping[str, str]) -> str:
    """Replace every ``${Resource}``/``${Resource.Attr}`` in `value`; unknown ones raise UnresolvedReference."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token not in placeholders:
            raise UnresolvedReference(f"{token} does not name a locally provisioned resource")
        return placeholders[token]

    return _PLACEHOLDER.sub(replace, value)


def resolve_environment(environment: Mapping[str, str], placeholders: Mapping[str, str]) -> dict[str, str]:
    """The function's environment with resource references replaced by local URLs/ARNs."""
    return {name: substitute(value, placeholders) for name, value in environment.items()}


def _as_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def queue_attributes(
    properties: Mapping[str, Any], placeholders: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """CreateQueue attributes for a queue resource's properties, and notes on what was left out.

    A property that references something not provisioned locally (e.g. a KMS key resource) is skipped
    with a note rather than guessed.
    """
    attributes: dict[str, str] = {}
    notes: list[str] = []
    for name in QUEUE_ATTRIBUTES:
        if name not in properties:
            continue
        raw = _as_attribute(properties[name])
        try:
            attributes[name] = substitute(raw, placeholders)
        except UnresolvedReference as exc:
            notes.append(f"{name} skipped locally: {exc}")
    return attributes, notes


def _queue_name(logical_id: str, properties: Mapping[str, Any], shard: int | None) -> str:
    name = str(properties.get("QueueName") or f"local-{logical_id}")
    fifo = str(properties.get("FifoQueue", "")).lower() == "true"
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    if shard is None:
        return name
    stem = name[: -len(".fifo")] if fifo else name
    return f"{stem}-{shard}" + (".fifo" if fifo else "")


def _create_queue(sqs: Any, logical_id: str, name: str, attributes: Mapping[str, str]) -> QueueInfo:
    url = sqs.create_queue(QueueName=name, Attributes=dict(attributes))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueInfo(logical_id=logical_id, name=name, url=url, arn=arn)


def _allow_shards_to_redrive(
    sqs: Any, dead_letter_queue: QueueInfo, attributes: Mapping[str, str], queues: list[QueueInfo]
) -> list[str]:
    """A byQueue RedriveAllowPolicy names the one source queue; the local shards stand in for it."""
    raw = attributes.get("RedriveAllowPolicy")
    if not raw:
        return []
    policy = json.loads(raw)
    if policy.get("redrivePermission") != "byQueue":
        return []
    policy["sourceQueueArns"] = [queue.arn for queue in queues]
    sqs.set_queue_attributes(
        QueueUrl=dead_letter_queue.url, Attributes={"RedriveAllowPolicy": json.dumps(policy)}
    )
    return [f"DLQ RedriveAllowPolicy lists the {len(queues)} local shards instead of the one source queue"]


def template_resources(
    path: Path, overrides: Mapping[str, str] | None = None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every resource the template creates with these parameters (its Condition holds), as
    (Type, resolved Properties), with the same evaluator the deployment settings use."""
    template = template_model.load_template(path)
    evaluator = template_model.Evaluator(template, template_model.parameter_values(template, overrides))
    resources: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue
        properties = evaluator.resolve(resource.get("Properties") or {}) or {}
        resources[logical_id] = (str(resource.get("Type")), properties)
    return resources


def _create_table(dynamodb: Any, name: str, properties: Mapping[str, Any]) -> str:
    """Create one table with a table resource's properties (key schema, billing, indexes, TTL as
    declared); returns its ARN."""
    arguments = {field: properties[field] for field in TABLE_FIELDS if field in properties}
    description = dynamodb.create_table(TableName=name, **arguments)["TableDescription"]
    ttl = properties.get("TimeToLiveSpecification") or {}
    if str(ttl.get("Enabled", "")).lower() == "true":
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    return str(description["TableArn"])


def create_tables(
    dynamodb: Any, resources: Mapping[str, tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, str]]:
    """Create every DynamoDB table of the template; returns the placeholders of each by logical id."""
    created: dict[str, dict[str, str]] = {}
    for logical_id, (kind, properties) in resources.items():
        if kind != TABLE_TYPE:
            continue
        name = str(properties.get("TableName") or f"local-{logical_id}")
        arn = _create_table(dynamodb, name, properties)
        created[logical_id] = {f"${{{logical_id}}}": name, f"${{{logical_id}.Arn}}": arn}
    return created


def create_table(
    dynamodb: Any,
    name: str,
    logical_id: str = VERSION_TABLE_ID,
    template: Path = template_model.DEFAULT_TEMPLATE,
) -> str:
    """Create one of the template's tables (the ordering ledger by default) under another `name`, as
    a test that wants a table of its own does; returns the name."""
    kind, properties = template_resources(template)[logical_id]
    if kind != TABLE_TYPE:
        raise ValueError(f"{logical_id} is not a DynamoDB table")
    _create_table(dynamodb, name, properties)
    return name


def provision(
    sqs: Any,
    secretsmanager: Any,
    template_path: Path,
    *,
    token: str,
    dynamodb: Any = None,
    shards: int = 1,
    overrides: Mapping[str, str] | None = None,
    queue_id: str = template_model.QUEUE_ID,
    dead_letter_queue_id: str = template_model.DEAD_LETTER_QUEUE_ID,
    portal_tokens: Mapping[int, str] | None = None,
    secret_pattern: str = DEFAULT_SECRET_PATTERN,
    default_portal_id: int | None = None,
) -> Provisioned:
    """Create the DLQ, the source queue (or `shards` copies of it) and every secret of the template.

    Each secret holds ``{"accessToken": token}``, the shape the handler reads. With a `dynamodb`
    client, the template's DynamoDB tables are created too. With `portal_tokens`, one secret per
    portal as well (module docstring).
    """
    portal_secrets = (
        create_portal_secrets(secretsmanager, portal_tokens, secret_pattern) if portal_tokens else {}
    )
    if default_portal_id is not None and default_portal_id not in portal_secrets:
        raise ValueError(f"default_portal_id {default_portal_id} is not one of the provisioned portals")
    if shards < 1:
        raise ValueError("shards must be at least 1")
    resources = template_resources(template_path, overrides)
    notes: list[str] = []
    shared: dict[str, str] = {}
    dlq_type, dlq_properties = resources[dead_letter_queue_id]
    queue_type, queue_properties = resources[queue_id]
    if QUEUE_TYPE not in (dlq_type, queue_type) or dlq_type != queue_type:
        raise ValueError(f"{queue_id} and {dead_letter_queue_id} must both be {QUEUE_TYPE}")
    dlq_attributes, dlq_notes = queue_attributes(dlq_properties, shared)
    notes += dlq_notes
    dead_letter_queue = _create_queue(
        sqs, dead_letter_queue_id, _queue_name(dead_letter_queue_id, dlq_properties, None), dlq_attributes
    )
    shared.update(dead_letter_queue.placeholders())
    secret_arn = secret_name = ""
    for logical_id, (kind, properties) in resources.items():
        if kind != SECRET_TYPE:
            continue
        name = str(properties.get("Name") or f"local-{logical_id}")
        created = secretsmanager.create_secret(Name=name, SecretString=json.dumps({"accessToken": token}))
        shared[f"${{{logical_id}}}"] = created["ARN"]
        shared[f"${{{logical_id}.Id}}"] = created["ARN"]
        secret_arn, secret_name = created["ARN"], name
    tables: dict[str, str] = {}
    if dynamodb is not None:
        for logical_id, placeholders in create_tables(dynamodb, resources).items():
            shared.update(placeholders)
            tables[logical_id] = placeholders[f"${{{logical_id}}}"]
    attributes, queue_notes = queue_attributes(queue_properties, shared)
    notes += queue_notes
    queues = [
        _create_queue(
            sqs, queue_id, _queue_name(queue_id, queue_properties, None if shards == 1 else shard), attributes
        )
        for shard in range(shards)
    ]
    if shards > 1:
        notes += _allow_shards_to_redrive(sqs, dead_letter_queue, dlq_attributes, queues)
    return Provisioned(
        queues=queues,
        dead_letter_queue=dead_letter_queue,
        secret_arn=secret_arn,
        secret_name=secret_name,
        queue_attributes=attributes,
        tables=tables,
        notes=notes,
        shared_placeholders=shared,
        secret_pattern=secret_pattern if portal_secrets else None,
        portal_secrets=portal_secrets,
        default_portal_id=default_portal_id,
    )
