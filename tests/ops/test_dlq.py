"""The dead-letter tool over moto server with real boto3 clients: the DLQ is filled the way it is in
AWS (the real handler dead-letters, SQS redrives after MaxReceiveCount), then list, show, export and
replay run against it."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from local.ops.dlq import main
from tests.ops.conftest import OpsStack

REPO = Path(__file__).resolve().parents[2]

INVALID = {"subscriberIdString": "ada@example.com", "subscriptionId": 1001, "status": "SUBSCRIBED"}
UNKNOWN_SUBSCRIPTION = {
    "subscriberIdString": "bob@example.com",
    "subscriptionId": 999999,
    "statusState": "SUBSCRIBED",
}
VALID = {
    "subscriberIdString": "cy@example.com",
    "subscriptionId": 1002,
    "statusState": "UNSUBSCRIBED",
    "occurredAt": "2026-11-26T09:30:00Z",
}


@pytest.fixture
def filled(ops_stack: OpsStack) -> OpsStack:
    """GIVEN a DLQ with a valid update SQS moved there after its deliveries ran out, an invalid body and
    a write to an unknown subscription, both dead-lettered by the function itself."""
    ops_stack.send(VALID)
    first = ops_stack.sqs.receive_message(
        QueueUrl=ops_stack.queue_url, VisibilityTimeout=0, WaitTimeSeconds=1
    )
    assert len(first["Messages"]) == 1  # its one delivery, never deleted: SQS redrives it on the next receive
    ops_stack.send(INVALID)
    ops_stack.send(UNKNOWN_SUBSCRIPTION)
    response = ops_stack.run_handler()  # the function dead-letters these two itself
    assert response == {"batchItemFailures": []}
    assert ops_stack.depth(ops_stack.dlq_url) == 3
    assert ops_stack.depth(ops_stack.queue_url) == 0
    return ops_stack


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_list_groups_by_category_masks_emails_and_consumes_nothing(filled: OpsStack) -> None:
    # WHEN the operator lists the DLQ
    code, text = run("--dlq-url", filled.dlq_url, "list")

    # THEN one row per category with its count, no address in clear, and every message still there
    assert code == 0
    assert "3 message(s)" in text
    counts = {line[:29].strip(): line[29:36].strip() for line in text.splitlines()[2:] if line[:29].strip()}
    assert counts == {"INVALID_MESSAGE": "1", "HUBSPOT_REJECTED_ITEM": "1", "(moved by SQS)": "1"}
    assert "@example.com" in text
    assert not any(name in text for name in ("ada@", "bob@", "cy@"))
    assert len(filled.peek(filled.dlq_url)) == 3  # visible again at once


def test_list_shows_emails_only_when_asked(filled: OpsStack) -> None:
    code, text = run("--dlq-url", filled.dlq_url, "--show-emails", "list")
    assert code == 0
    assert "ada@example.com" in text


def test_show_prints_the_reason_and_the_masked_body(filled: OpsStack) -> None:
    # GIVEN the id of the invalid message as the function recorded it
    invalid = next(m for m in filled.peek(filled.dlq_url) if '"status"' in m["Body"])
    original = invalid["MessageAttributes"]["original_message_id"]["StringValue"]

    # WHEN the operator shows it
    code, text = run("--dlq-url", filled.dlq_url, "show", original)

    # THEN the reason, the category, the masked body and its replay verdict are printed
    assert code == 0
    assert "INVALID_MESSAGE" in text
    assert "did you mean statusState" in text
    assert "h:" in text
    assert "ada@" not in text
    assert "still invalid" in text


def test_show_of_an_unknown_id_fails_clearly(filled: OpsStack) -> None:
    assert run("--dlq-url", filled.dlq_url, "show", "no-such-id")[0] == 1


def test_export_writes_one_json_line_per_message(filled: OpsStack, tmp_path: Path) -> None:
    target = tmp_path / "dead-letters.jsonl"
    code, _ = run("--dlq-url", filled.dlq_url, "export", "--output", str(target))
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert code == 0
    assert sorted(line["error_category"] for line in lines) == [
        "(moved by SQS)",
        "HUBSPOT_REJECTED_ITEM",
        "INVALID_MESSAGE",
    ]
    assert all("@example.com" in line["body"] and "h:" in line["body"] for line in lines)


def test_replay_dry_run_shows_the_verdicts_and_sends_nothing(filled: OpsStack) -> None:
    # WHEN replay runs without --yes
    code, text = run("--dlq-url", filled.dlq_url, "--queue-url", filled.queue_url, "replay", "--dry-run")

    # THEN each message has its verdict and nothing moved
    assert code == 0
    assert "3 read: 1 would pass, 1 still invalid, 1 need a fix first" in text
    assert "dry run: nothing sent" in text
    assert filled.depth(filled.queue_url) == 0
    assert filled.depth(filled.dlq_url) == 3


def test_replay_yes_sends_only_what_passes_and_it_is_applied(filled: OpsStack) -> None:
    # WHEN the operator replays for real
    code, text = run("--dlq-url", filled.dlq_url, "--queue-url", filled.queue_url, "replay", "--yes")

    # THEN the valid update left the DLQ for the queue; the invalid one and the rejected one stayed
    assert code == 0, text
    assert "sent 1" in text
    assert "2 left in the DLQ" in text
    left = filled.peek(filled.dlq_url)
    assert sorted(m["MessageAttributes"]["error_category"]["StringValue"] for m in left) == [
        "HUBSPOT_REJECTED_ITEM",
        "INVALID_MESSAGE",
    ]
    # AND the replayed one, delivered to the real handler, is applied in HubSpot
    assert filled.run_handler() == {"batchItemFailures": []}
    assert filled.emulator.status("cy@example.com", 1002)["status"] == "UNSUBSCRIBED"
    assert filled.depth(filled.queue_url) == 0


def test_replay_include_takes_a_category_that_needs_a_fix(filled: OpsStack) -> None:
    code, text = run("--dlq-url", filled.dlq_url, "replay", "--include", "HUBSPOT_REJECTED_ITEM")
    assert code == 0
    assert "3 read: 2 would pass, 1 still invalid, 0 need a fix first" in text


def test_a_send_that_fails_leaves_its_dlq_copy(filled: OpsStack) -> None:
    # GIVEN a main queue that no longer exists
    gone = filled.sqs.create_queue(QueueName="ops-gone")["QueueUrl"]
    filled.sqs.delete_queue(QueueUrl=gone)

    # WHEN replay --yes cannot send
    code, text = run("--dlq-url", filled.dlq_url, "--queue-url", gone, "replay", "--yes")

    # THEN it says so, exits 1, and every message is still in the DLQ
    assert code == 1
    assert "its DLQ copy stays" in text
    assert len(filled.peek(filled.dlq_url)) == 3


def test_replay_yes_without_the_main_queue_is_refused(filled: OpsStack) -> None:
    assert run("--dlq-url", filled.dlq_url, "replay", "--yes")[0] == 1
    assert filled.depth(filled.dlq_url) == 3


def test_the_stack_outputs_name_the_queues(filled: OpsStack) -> None:
    # GIVEN a stack whose outputs are the template's queue outputs
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "SubscriptionQueueUrl": {"Value": filled.queue_url},
            "SubscriptionDeadLetterQueueUrl": {"Value": filled.dlq_url},
        },
    }
    boto3.client("cloudformation").create_stack(StackName="ops-test", TemplateBody=json.dumps(template))

    # WHEN the tool is given only the stack name THEN it reads that DLQ
    code, text = run("--stack", "ops-test", "replay")
    assert code == 0
    assert "3 read:" in text
    assert run("--stack", "no-such-stack", "list")[0] == 1


def test_make_dlq_reaches_a_local_stack_named_only_by_aws_endpoint_url(filled: OpsStack, aws: str) -> None:
    # GIVEN no AWS credentials or region at all, only the local stack's endpoint
    make_bin = shutil.which("make")
    if make_bin is None:
        pytest.skip("make is not on PATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = aws

    # WHEN the operator runs the documented target (the venv taken as it is)
    result = subprocess.run(  # noqa: S603 - make from PATH, fixed arguments
        [
            make_bin,
            "-s",
            "-o",
            ".venv/.stamp-run",
            "-o",
            ".uv/.stamp",
            "dlq",
            f"ARGS=--dlq-url {filled.dlq_url} list",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    # THEN it lists the DLQ (the Makefile gives a local endpoint dummy credentials)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 message(s)" in result.stdout


def test_a_queue_that_does_not_exist_is_one_clear_line(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("--dlq-url", f"{aws}/123456789012/no-such-queue", "list")
    assert code == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_bad_arguments_exit_2_with_usage() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.ops.dlq",
            "--dlq-url",
            "http://127.0.0.1:9/q",
            "replay",
            "--yes",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr
    assert "Traceback" not in result.stderr
