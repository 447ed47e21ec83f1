"""The BUILT package works: `sam build` output (function code plus layer), run by Python 3.13 with only
that output importable, processes every sample event against the HubSpot emulator and moto, with the
environment the template sets."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.aws.provision import create_table
from local.aws.template_model import deployment_settings
from local.hubspot_emulator import running_emulator
from tests.template.event_expectations import EVENTS_DIR, EXPECTATIONS, EventExpectation, load_event
from tests.template.tooling import SamBuild

pytestmark = [pytest.mark.tools, pytest.mark.slow]

TOKEN = "pat-na1-test"
RUNNER = Path(__file__).with_name("built_handler_runner.py")
INVOKE_TIMEOUT_S = 120


def lambda_environment(
    template_env: dict[str, str], moto: str, home: Path, build: SamBuild
) -> dict[str, str]:
    """What Lambda would give the process: the template's variables plus the runtime's own; AWS goes
    to moto, and no user configuration is read."""
    env = dict(template_env)
    env.update(
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=moto,
        AWS_ENDPOINT_URL_SQS=moto,
        AWS_ENDPOINT_URL_SECRETS_MANAGER=moto,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        HOME=str(home),
        AWS_EXECUTION_ENV="AWS_Lambda_python3.13",
        AWS_LAMBDA_FUNCTION_NAME="status-writer-built",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_FORMAT="JSON",
        AWS_LAMBDA_LOG_LEVEL=template_env["POWERTOOLS_LOG_LEVEL"],
        LAMBDA_TASK_ROOT=str(build.function_dir),
        TZ=":UTC",
    )
    return env


def invoke_built(build: SamBuild, event_path: Path, env: dict[str, str], work: Path) -> dict[str, Any]:
    """Run the built handler once in a fresh 3.13 process (isolated mode, no site-packages)."""
    result_path = work / "result.json"
    timeout_s = deployment_settings().function_timeout_s
    completed = subprocess.run(  # noqa: S603 - our own runner with fixed arguments
        [
            str(build.python313),
            "-I",
            "-S",
            str(RUNNER),
            str(build.function_dir),
            str(build.layer_dir),
            str(event_path),
            str(timeout_s),
            str(result_path),
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        timeout=INVOKE_TIMEOUT_S,
    )
    assert completed.returncode == 0, (
        f"built handler failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    )
    outcome: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    return outcome


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message in a queue, with its attributes."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_built_handler_processes_the_sample_event(
    name: str, sam_build: SamBuild, aws: str, tmp_path: Path
) -> None:
    expectation: EventExpectation = EXPECTATIONS[name]
    records = load_event(name)["Records"]

    # GIVEN the token in a moto secret, a moto DLQ, and the emulator as HubSpot
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    secrets = boto3.client("secretsmanager", endpoint_url=aws, region_name="us-east-1")
    secret_arn = secrets.create_secret(
        Name=f"hubspot-subscription-sync/{uuid.uuid4().hex}", SecretString=json.dumps({"accessToken": TOKEN})
    )["ARN"]
    dlq_url = sqs.create_queue(QueueName=f"status-writer-dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    dynamodb = boto3.client("dynamodb", endpoint_url=aws, region_name="us-east-1")
    table = create_table(dynamodb, f"status-writer-versions-{uuid.uuid4().hex[:12]}")

    with running_emulator(tokens=[TOKEN]) as emulator:
        # ...and the environment exactly as the template sets it, with the stack's resources swapped
        # for these local ones
        settings = deployment_settings(overrides={"HubSpotApiBaseUrl": emulator.base_url})
        template_env = {
            key: value.replace("${HubSpotSecret}", secret_arn)
            .replace("${SubscriptionDeadLetterQueue}", dlq_url)
            .replace("${VersionTable}", table)
            for key, value in settings.environment.items()
        }
        assert not [value for value in template_env.values() if "${" in value]
        env = lambda_environment(template_env, aws, tmp_path, sam_build)

        # WHEN the built handler is invoked with the sample event
        outcome = invoke_built(sam_build, EVENTS_DIR / name, env, tmp_path)
        stored = emulator.snapshot()["statuses"]

    # THEN nothing is left to retry, and only the built package and the standard library were imported
    assert outcome["response"] == {"batchItemFailures": []}
    assert outcome["foreign_modules"] == []

    # ...exactly the invalid and HubSpot-rejected records are in the DLQ, with their original bodies
    dead = drain(sqs, dlq_url)
    dead_ids = {m["MessageAttributes"]["original_message_id"]["StringValue"] for m in dead}
    assert dead_ids == {records[i]["messageId"] for i in expectation.dead_lettered}
    assert sorted(m["Body"] for m in dead) == sorted(records[i]["body"] for i in expectation.dead_lettered)

    # ...and HubSpot holds the newest update per (email, subscription), and nothing else (a subscription
    # never written reads as NOT_SPECIFIED, so writing NOT_SPECIFIED to it stores nothing)
    written = {(s["subscriberIdString"], s["subscriptionId"]): s["status"] for s in stored}
    assert {key: written.get(key, "NOT_SPECIFIED") for key in expectation.final} == expectation.final
    assert set(written) <= set(expectation.final)


def test_runner_sees_no_site_packages(sam_build: SamBuild, tmp_path: Path) -> None:
    # GIVEN the interpreter flags the runner is started with
    probe = "import sys, json; print(json.dumps(sys.path))"

    # WHEN that interpreter lists its import path
    completed = subprocess.run(  # noqa: S603 - fixed arguments
        [str(sam_build.python313), "-I", "-S", "-c", probe],
        env={"PATH": os.defpath},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    # THEN no site-packages directory is on it, so only the build output can supply third-party code
    assert not [entry for entry in json.loads(completed.stdout) if "site-packages" in entry]
