"""The chaos run's hostile relay (local.chaos.hostile) over loopback HTTP: the kit in front of an
upstream, answering on the way (the call never reaches HubSpot) or mangling the upstream's real answer
on the way back (the call was applied)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from local.chaos.hostile import BLOCKED, HostileFaults
from local.hostile import FAULT_KINDS, HostileServer, Profile, running_hostile

WRITE = "/communication-preferences/2026-03/statuses/batch/write"
REQUEST = {
    "inputs": [{"subscriberIdString": "ada@example.com", "subscriptionId": 1001, "statusState": "SUBSCRIBED"}]
}


@pytest.fixture
def upstream() -> Iterator[HostileServer]:
    """A well-behaved HubSpot stand-in: every call gets a COMPLETE batch answer."""
    with running_hostile(Profile()) as server:
        yield server


def _call(url: str) -> httpx.Response:
    with httpx.Client(timeout=httpx.Timeout(3.0), follow_redirects=False) as client:
        return client.post(url + WRITE, json=REQUEST)


def test_without_a_window_every_call_reaches_the_upstream_and_its_answer_comes_back(
    upstream: HostileServer,
) -> None:
    # GIVEN the relay with no hostile window open
    faults = HostileFaults(seed=1)
    with running_hostile(Profile(relay=faults.relay), upstream=upstream.url) as relay:
        # WHEN a call goes through it
        answer = _call(relay.url)
    # THEN the upstream got it and its answer arrived as it was; nothing was counted
    assert [path for path, _ in upstream.requests] == [WRITE]
    assert answer.status_code == 200
    assert answer.json()["status"] == "COMPLETE"
    assert sum(faults.counts.values()) == 0


@pytest.mark.parametrize("kind", ["html_400", "redirect"])
def test_a_proxy_answer_never_reaches_hubspot(upstream: HostileServer, kind: str) -> None:
    # GIVEN a window answering every call as a proxy would
    faults = HostileFaults(seed=2)
    faults.set([kind], 1.0)
    with running_hostile(Profile(relay=faults.relay), upstream=upstream.url) as relay:
        answer = _call(relay.url)
    # THEN the upstream saw nothing, the function got the proxy's answer, and it was counted
    assert upstream.requests == []
    assert answer.status_code in {400, 307}
    assert faults.counts[kind] == 1
    assert kind in BLOCKED


@pytest.mark.parametrize("kind", ["truncated_200", "wrong_content_type", "null_200"])
def test_a_mangled_answer_was_applied_upstream_first(upstream: HostileServer, kind: str) -> None:
    # GIVEN a window mangling every answer on its way back
    faults = HostileFaults(seed=3)
    faults.set([kind], 1.0)
    with running_hostile(Profile(relay=faults.relay), upstream=upstream.url) as relay:
        try:
            answer: httpx.Response | None = _call(relay.url)
        except httpx.HTTPError:
            answer = None  # a truncated body ends the connection early
    # THEN the upstream got (and applied) the call, and what came back is not its COMPLETE answer
    assert [path for path, _ in upstream.requests] == [WRITE]
    assert faults.counts[kind] == 1
    if kind == "wrong_content_type":
        assert answer is not None
        assert answer.headers["content-type"] == "text/plain"
        assert json.loads(answer.content)["status"] == "COMPLETE"
    elif kind == "null_200":
        assert answer is not None
        assert answer.content == b"null"
    else:
        assert answer is None


def test_a_window_hits_about_its_share_of_calls_and_counts_each_kind() -> None:
    # GIVEN a window of two kinds at a quarter of the calls (no I/O: the relay's decision alone)
    faults = HostileFaults(seed=4)
    faults.set(["html_413", "empty_200"], 0.25)
    from local.hostile import Answer

    def upstream() -> Answer:
        return Answer(body=b"{}")

    # WHEN 2,000 calls pass, then the window closes and 100 more pass
    for _ in range(2000):
        faults.relay(WRITE, REQUEST, upstream)
    faults.clear()
    for _ in range(100):
        faults.relay(WRITE, REQUEST, upstream)
    # THEN about 500 were hit, both kinds among them, none after the window
    hit = sum(faults.counts.values())
    assert 400 < hit < 600
    assert set(faults.counts) == {"html_413", "empty_200"}


def test_control_calls_are_never_hit_and_unknown_kinds_are_refused() -> None:
    faults = HostileFaults(seed=5)
    faults.set(FAULT_KINDS, 1.0)
    from local.hostile import Answer

    answer = faults.relay("/_emulator/counters", None, lambda: Answer(body=b"{}"))
    assert answer.body == b"{}"
    with pytest.raises(ValueError, match="unknown hostile fault kinds"):
        faults.set(["teapot"], 0.5)
