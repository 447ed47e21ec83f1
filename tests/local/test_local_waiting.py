"""What a draining run waits for: postponed messages (retry backoff) and messages parked after HubSpot's
DAILY limit, read from the visibility changes the local SQS server records."""

from __future__ import annotations

import json
import time
from pathlib import Path

from local.aws.event_source import default_sqs_client
from local.aws.moto import MotoServer
from local.workload.waiting import Postponement, PostponementLog, waiting_on

NOW = 1_800_000_000.0
CAP = 900.0  # RETRY_BACKOFF_MAX_SECONDS


def postponed(message_id: str, seconds: float, set_at: float = NOW) -> Postponement:
    return Postponement(message_id, set_at + seconds, set_at)


def test_backoff_names_how_many_and_the_earliest_return() -> None:
    # GIVEN two messages in backoff (30 s and 60 s) and one settled since
    latest = {p.message_id: p for p in (postponed("a", 30), postponed("b", 60), postponed("c", 10))}
    # WHEN the run asks what it waits for
    waiting = waiting_on(latest, settled={"c"}, now=NOW + 1, backoff_max_s=CAP)
    # THEN two in backoff, the first back at +30 s, nothing parked
    assert (waiting.backoff, waiting.backoff_until, waiting.parked) == (2, NOW + 30, frozenset())
    assert "backoff 2 until" in waiting.describe(NOW + 1)
    assert "(in 29 s)" in waiting.describe(NOW + 1)


def test_a_postponement_past_the_backoff_cap_is_parked_not_backoff() -> None:
    latest = {p.message_id: p for p in (postponed("a", 30), postponed("d", 20_000), postponed("e", 30_000))}
    waiting = waiting_on(latest, settled=set(), now=NOW, backoff_max_s=CAP)
    assert waiting.backoff == 1
    assert waiting.parked == frozenset({"d", "e"})
    assert waiting.parked_until == NOW + 20_000
    assert "parked 2 until" in waiting.describe(NOW)
    assert "DAILY" in waiting.describe(NOW)


def test_messages_visible_again_or_settled_are_not_waited_for() -> None:
    # GIVEN every postponement is over or its message settled (the all-done case)
    latest = {p.message_id: p for p in (postponed("a", 30, NOW - 60), postponed("b", 20_000))}
    waiting = waiting_on(latest, settled={"b"}, now=NOW, backoff_max_s=CAP)
    assert (waiting.backoff, waiting.parked, waiting.describe(NOW)) == (0, frozenset(), "")


def test_the_log_keeps_the_latest_change_per_message_of_the_watched_queues(tmp_path: Path) -> None:
    # GIVEN a log with two changes of one message, one of another queue, and a line still being written
    path = tmp_path / "visibility.jsonl"
    lines = [
        {"queue": "q", "message_id": "a", "visible_at": NOW + 30, "set_at": NOW},
        {"queue": "other", "message_id": "x", "visible_at": NOW + 30, "set_at": NOW},
        {"queue": "q", "message_id": "a", "visible_at": NOW + 90, "set_at": NOW + 30},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"queue": "q", "mess')
    log = PostponementLog(path, {"q"})
    # WHEN it is read, then the partial line completes
    assert log.refresh() == {"a": Postponement("a", NOW + 90, NOW + 30)}
    with path.open("a") as handle:
        handle.write('age_id": "b", "visible_at": 5.0, "set_at": 1.0}\n')
    # THEN each message's latest change is kept, other queues are ignored
    assert set(log.refresh()) == {"a", "b"}


def test_moto_records_every_visibility_change(tmp_path: Path) -> None:
    # GIVEN moto started with a visibility log and a received message
    path = tmp_path / "visibility.jsonl"
    with MotoServer(visibility_log=path) as moto:
        sqs = default_sqs_client("us-east-1", moto.endpoint)
        url = sqs.create_queue(QueueName="postponed")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody="{}")["MessageId"]
        handle = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["ReceiptHandle"]
        before = time.time()
        # WHEN the message is postponed by 120 s, as the function does with a retryable message
        sqs.change_message_visibility_batch(
            QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": handle, "VisibilityTimeout": 120}]
        )
        # THEN the log says which message comes back when
        latest = PostponementLog(path, {"postponed"}).refresh()
    change = latest[message_id]
    assert before - 1 <= change.set_at <= time.time()
    assert abs(change.visible_at - change.set_at - 120) < 1
