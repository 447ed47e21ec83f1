"""The sender keeps each queue short (moto is O(queue length) per call) and sends everything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from local_helpers import depth

from local.aws.event_source import default_sqs_client
from local.workload.feeder import Feeder
from local.workload.workload import generate


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_sender_holds_back_at_the_high_water_mark_until_messages_are_received(
    aws: str, sqs: Any, make_queue: Callable[..., tuple[str, str]]
) -> None:
    # GIVEN 100 messages to send with a backlog limit of 20
    url, _ = make_queue()
    feeder = Feeder(
        queue_urls=[url],
        workload=generate(100, seed=2),
        sqs_client=lambda: default_sqs_client("us-east-1", aws),
        high_water=20,
    )
    feeder.start()
    try:
        # WHEN nothing is received
        assert wait_for(lambda: feeder.sent >= 20)
        time.sleep(0.3)
        # THEN it stops within one send call of the limit
        held = feeder.sent
        assert 20 <= held < 30
        assert not feeder.done
        assert sum(depth(sqs, url)) == held
        # AND once the consumer reports what it received, it carries on to the end
        while not feeder.done:
            records = [{"attributes": {"ApproximateReceiveCount": "1"}}] * 10
            feeder.note_received(0, records)
            time.sleep(0.05)
    finally:
        feeder.stop()
    assert feeder.sent == 100
    assert feeder.send_errors == []
    assert all(item.message_id for item in feeder.workload.items)
