"""local.hostile: the hostile server answers each fault kind as documented, over loopback HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from local.hostile import FAULT_KINDS, Answer, Profile, batch_answer, fault_answer, running_hostile

REQUEST = {
    "inputs": [{"subscriberIdString": "a@example.com", "subscriptionId": 1, "statusState": "SUBSCRIBED"}]
}
PATH = "/communication-preferences/v4/statuses/batch/write"


def post(url: str, timeout: float = 5.0) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=timeout, follow_redirects=False) as client:
        return client.post(PATH, json=REQUEST)


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("html_400", 400, b"<html>"),
        ("html_413", 413, b"<html>"),
        ("html_200", 200, b"<html>"),
        ("empty_200", 200, b""),
        ("null_200", 200, b"null"),
        ("list_207", 207, b"[]"),
        ("no_status_200", 200, b'{"message"'),
    ],
)
def test_static_fault_kinds_answer_their_status_and_body(kind: str, status: int, body: bytes) -> None:
    with running_hostile(kind) as hostile:
        response = post(hostile.url)
    assert response.status_code == status
    assert response.content.startswith(body)
    assert hostile.requests == [(PATH, REQUEST)]


def test_a_valid_answer_confirms_every_input_and_a_wrong_content_type_still_carries_it() -> None:
    with running_hostile("wrong_content_type") as hostile:
        response = post(hostile.url)
    assert response.headers["content-type"] == "text/plain"
    assert response.json() == batch_answer(REQUEST)
    assert response.json()["results"][0]["subscriberIdString"] == "a@example.com"


def test_truncated_and_reset_answers_break_the_connection_mid_body() -> None:
    for kind in ("truncated_200", "reset"):
        with running_hostile(kind) as hostile, pytest.raises(httpx.HTTPError):
            post(hostile.url)


def test_a_redirect_points_elsewhere_and_is_not_followed() -> None:
    with running_hostile("redirect") as hostile:
        response = post(hostile.url)
    assert response.status_code == 307
    assert response.headers["location"].startswith("http://192.0.2.1")


def test_a_trickle_takes_its_time_and_a_hang_never_answers_in_time() -> None:
    with running_hostile(
        Profile(respond=lambda path, body: Answer(200, b'{"a": 1}', trickle_s=0.05))
    ) as hostile:
        started = time.monotonic()
        assert post(hostile.url).content == b'{"a": 1}'
        assert time.monotonic() - started >= 0.3  # 8 bytes, one every 0.05 s
    with running_hostile("hang") as hostile, pytest.raises(httpx.ReadTimeout):
        post(hostile.url, timeout=0.3)


def test_a_huge_answer_is_as_large_as_asked() -> None:
    with running_hostile(Profile(kinds=("huge_200",), huge_bytes=1024 * 1024)) as hostile:
        assert len(post(hostile.url).content) == 1024 * 1024


def test_a_rate_below_one_passes_the_other_calls_to_the_upstream() -> None:
    # GIVEN an upstream that answers a valid batch, and a hostile server failing none of the calls
    never = Profile(kinds=("html_400",), rate=0.0)
    with running_hostile(never) as upstream, running_hostile(never, upstream=upstream.url) as hostile:
        response = post(hostile.url)
    # THEN the answer is the upstream's, and both saw the call
    assert response.status_code == 200
    assert json.loads(response.content) == batch_answer(REQUEST)
    assert len(upstream.requests) == len(hostile.requests) == 1


def test_every_fault_kind_has_an_answer_and_an_unknown_one_is_refused() -> None:
    assert all(isinstance(fault_answer(kind, REQUEST), Answer) for kind in FAULT_KINDS)
    with pytest.raises(ValueError, match="unknown fault kind"):
        fault_answer("nope")
