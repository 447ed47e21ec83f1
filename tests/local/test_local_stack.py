"""The one local stack: the template provisioned on moto, and the function's environment and event
source built from it, as make run, make chaos, make bench and the integration fixtures use them."""

from __future__ import annotations

import json
from typing import Any

from local.aws.stack import LocalAws, endpoint_variables

TOKEN = "pat-stack-test"


def test_provisioning_creates_the_templates_resources_and_the_function_sees_them(aws: str) -> None:
    # GIVEN moto WHEN the template is provisioned through the stack
    local = LocalAws.at(aws)
    deployment = local.provision(token=TOKEN)
    sqs: Any = local.client("sqs")
    queue, dlq = deployment.provisioned.queues[0], deployment.provisioned.dead_letter_queue
    attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    # THEN the queue carries the template's visibility timeout and redrive policy to the DLQ
    assert int(attributes["VisibilityTimeout"]) == deployment.settings.visibility_timeout_s
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq.arn
    assert int(redrive["maxReceiveCount"]) == deployment.settings.max_receive_count
    # AND the secret holds the token in the shape the handler reads, and the ledger table exists
    secret = local.client("secretsmanager").get_secret_value(SecretId=deployment.provisioned.secret_arn)
    assert json.loads(secret["SecretString"]) == {"accessToken": TOKEN}
    assert set(deployment.provisioned.tables.values()) <= set(
        local.client("dynamodb").list_tables()["TableNames"]
    )
    # AND the function's environment names those resources and sends every AWS call to moto
    env = deployment.function_environment(overrides={"EXTRA": "1"})
    assert env["HUBSPOT_SECRET_ID"] == deployment.provisioned.secret_arn
    assert env["DEAD_LETTER_QUEUE_URL"] == dlq.url
    assert env["VERSION_TABLE_NAME"] in deployment.provisioned.tables.values()
    assert {env[name] for name in endpoint_variables(local.endpoints)} == {aws}
    assert env["EXTRA"] == "1"
    # AND the event source mapping is the template's, on that queue
    mapping = deployment.mapping()
    assert (mapping.queue_url, mapping.batch_size) == (queue.url, deployment.settings.batch_size)
    assert mapping.maximum_concurrency == deployment.settings.maximum_concurrency


def test_separate_services_get_their_own_endpoint_variables() -> None:
    endpoints = {
        "sqs": "http://127.0.0.1:1",
        "secretsmanager": "http://127.0.0.1:2",
        "dynamodb": "http://127.0.0.1:2",
    }
    assert endpoint_variables(endpoints) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:2",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:2",
    }
