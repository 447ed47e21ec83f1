"""Provisioning from template.yaml: the queue, DLQ, secret and tables a local run uses are the ones the
template declares, and the function's environment points at them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.aws.provision import UnresolvedReference, provision, resolve_environment, substitute
from local.aws.template_model import DEFAULT_TEMPLATE, deployment_settings

FAKE_TOKEN = "pat-x"


@pytest.fixture
def clients(aws: str) -> dict[str, Any]:
    return {
        name: boto3.client(name, region_name="us-east-1", endpoint_url=aws)
        for name in ("sqs", "secretsmanager", "dynamodb")
    }


def provision_default(clients: dict[str, Any], token: str = FAKE_TOKEN, **options: Any) -> Any:
    """The project's template provisioned in moto with every client the run uses."""
    return provision(
        clients["sqs"],
        clients["secretsmanager"],
        DEFAULT_TEMPLATE,
        token=token,
        dynamodb=clients["dynamodb"],
        **options,
    )


def test_the_queue_and_dlq_are_created_as_the_template_declares_them(clients: dict[str, Any]) -> None:
    # GIVEN the project's template and its deployment settings
    settings = deployment_settings(DEFAULT_TEMPLATE)
    # WHEN it is provisioned in moto
    made = provision_default(clients)
    # THEN the source queue has the template's visibility timeout and redrive policy to the DLQ
    (queue,) = made.queues
    attributes = clients["sqs"].get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == settings.visibility_timeout_s
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == made.dead_letter_queue.arn
    assert int(redrive["maxReceiveCount"]) == settings.max_receive_count
    dlq = clients["sqs"].get_queue_attributes(QueueUrl=made.dead_letter_queue.url, AttributeNames=["All"])
    assert int(dlq["Attributes"]["MessageRetentionPeriod"]) == settings.dlq_retention_s


def test_the_secret_and_every_reference_in_the_environment_resolve_locally(clients: dict[str, Any]) -> None:
    settings = deployment_settings(DEFAULT_TEMPLATE)
    made = provision_default(clients)
    # WHEN the function's environment is resolved
    environment = resolve_environment(settings.environment, made.placeholders(0))
    # THEN no placeholder is left, the DLQ variable names the local DLQ, and the secret holds the token
    assert not any("${" in value for value in environment.values())
    assert made.dead_letter_queue.url in environment.values()
    assert made.secret_arn in environment.values()
    secret = clients["secretsmanager"].get_secret_value(SecretId=made.secret_arn)["SecretString"]
    assert json.loads(secret) == {"accessToken": "pat-x"}
    for name in made.tables.values():
        assert clients["dynamodb"].describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"


def test_shards_are_identical_queues_sharing_the_dlq(clients: dict[str, Any]) -> None:
    made = provision_default(clients, token="t", shards=3)
    assert len({queue.url for queue in made.queues}) == 3
    policies = [
        clients["sqs"].get_queue_attributes(
            QueueUrl=q.url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        )["Attributes"]
        for q in made.queues
    ]
    assert all(p == policies[0] for p in policies)
    assert all(made.placeholders(i) != made.placeholders(0) for i in (1, 2))


def test_a_resource_whose_condition_is_false_is_not_created(clients: dict[str, Any]) -> None:
    # GIVEN an existing secret named by parameter, so the template creates none of its own
    existing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mine-AbCdEf"
    made = provision_default(clients, token="t", overrides={"HubSpotSecretArn": existing})
    assert made.secret_arn == ""
    assert clients["secretsmanager"].list_secrets()["SecretList"] == []


def test_an_unknown_reference_is_an_error_not_a_guess() -> None:
    with pytest.raises(UnresolvedReference, match="NoSuchThing"):
        substitute("${NoSuchThing.Arn}", {"${Known}": "x"})
    assert substitute("prefix-${Known}", {"${Known}": "x"}) == "prefix-x"


def test_a_minimal_template_is_enough(clients: dict[str, Any], tmp_path: Path) -> None:
    # GIVEN a template with only the resources a local run needs
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  SubscriptionDeadLetterQueue: {Type: 'AWS::SQS::Queue', Properties: {MessageRetentionPeriod: 600}}\n"
        "  SubscriptionQueue:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      VisibilityTimeout: 7\n"
        "      RedrivePolicy: {deadLetterTargetArn: !GetAtt SubscriptionDeadLetterQueue.Arn, maxReceiveCount: 3}\n"
    )
    made = provision(clients["sqs"], clients["secretsmanager"], template, token="t")
    attributes = clients["sqs"].get_queue_attributes(QueueUrl=made.queues[0].url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "7"
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    assert made.secret_arn == ""
