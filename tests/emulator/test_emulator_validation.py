"""Whole-request validation and bad input: 400 (each case), 404, 405, 413, 415, in the `Error` shape, and
nothing is applied when a request is rejected."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from local.hubspot_emulator import Emulator
from tests.emulator.helpers import (
    DEFINITIONS,
    READ,
    WRITE,
    assert_error,
    assert_validation_error,
    item,
)


def _post_json(client: httpx.Client, body: Any, path: str = WRITE) -> httpx.Response:
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


def _without(field: str) -> dict[str, Any]:
    body = item()
    del body[field]
    return body


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        ({}, "REQUIRED", "inputs"),
        ({"inputs": None}, "REQUIRED", "inputs"),
        ({"inputs": {"a": 1}}, "INVALID_TYPE", "inputs"),
        ([item()], "INVALID_TYPE", None),
        ({"inputs": []}, "TOO_FEW", "inputs"),
        ({"inputs": ["ada@example.com"]}, "INVALID_TYPE", "inputs[0]"),
        ({"inputs": [item(), _without("subscriberIdString")]}, "REQUIRED", "inputs[1].subscriberIdString"),
        ({"inputs": [_without("subscriptionId")]}, "REQUIRED", "inputs[0].subscriptionId"),
        ({"inputs": [_without("channel")]}, "REQUIRED", "inputs[0].channel"),
        ({"inputs": [_without("statusState")]}, "REQUIRED", "inputs[0].statusState"),
        ({"inputs": [item(statusState="OPTED_IN")]}, "INVALID_ENUM", "inputs[0].statusState"),
        ({"inputs": [item(channel="SMS")]}, "INVALID_ENUM", "inputs[0].channel"),
        ({"inputs": [item(legalBasis="BECAUSE")]}, "INVALID_ENUM", "inputs[0].legalBasis"),
        ({"inputs": [item(subscription_id="abc")]}, "INVALID_TYPE", "inputs[0].subscriptionId"),
        ({"inputs": [item(subscription_id="1001")]}, "INVALID_TYPE", "inputs[0].subscriptionId"),
        ({"inputs": [item(subscription_id=1001.5)]}, "INVALID_TYPE", "inputs[0].subscriptionId"),
        ({"inputs": [item(subscription_id=True)]}, "INVALID_TYPE", "inputs[0].subscriptionId"),
        ({"inputs": [item(email=42)]}, "INVALID_TYPE", "inputs[0].subscriberIdString"),
        ({"inputs": [item(legalBasisExplanation=["x"])]}, "INVALID_TYPE", "inputs[0].legalBasisExplanation"),
        ({"inputs": [item(status="SUBSCRIBED")]}, "UNRECOGNIZED_FIELD", "inputs[0].status"),
        ({"inputs": [item()], "extra": 1}, "UNRECOGNIZED_FIELD", "extra"),
    ],
    ids=[
        "missing-inputs",
        "null-inputs",
        "inputs-not-a-list",
        "body-not-an-object",
        "empty-inputs",
        "item-not-an-object",
        "missing-subscriberIdString",
        "missing-subscriptionId",
        "missing-channel",
        "missing-statusState",
        "bad-statusState",
        "bad-channel",
        "bad-legalBasis",
        "subscriptionId-word",
        "subscriptionId-digit-string-strict",
        "subscriptionId-float",
        "subscriptionId-bool",
        "email-not-a-string",
        "explanation-not-a-string",
        "unknown-field-status-instead-of-statusState",
        "unknown-top-level-field",
    ],
)
def test_invalid_bodies_are_rejected_whole_with_a_validation_error(
    client: httpx.Client, emu: Emulator, body: Any, code: str, where: str | None
) -> None:
    # GIVEN a body that breaks one rule (alongside valid items where the case has them)
    # WHEN it is posted to batch/write
    response = _post_json(client, body)
    # THEN the whole request is a 400 VALIDATION_ERROR naming the rule and the field
    payload = assert_validation_error(response, code, where)
    assert payload["links"]["knowledge-base"].startswith("https://")
    # AND nothing was applied, not even the valid items
    assert emu.snapshot() == {"statuses": [], "wideStatuses": []}


def test_more_inputs_than_the_batch_limit_is_a_400(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a batch limit of 3
    emu.configure(batch_limit=3)
    # WHEN 4 inputs arrive
    response = _post_json(client, {"inputs": [item(f"n{i}@example.com") for i in range(4)]})
    # THEN it is rejected whole and the message names the limit
    body = assert_validation_error(response, "TOO_MANY", "inputs")
    assert "3" in body["message"]
    assert emu.snapshot()["statuses"] == []


def test_non_strict_mode_ignores_unknown_fields_and_accepts_digit_string_ids(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN strict mode off
    emu.configure(strict=False)
    # WHEN an item has an unknown field and a subscriptionId sent as a digit string
    response = _post_json(client, {"inputs": [item(subscription_id="1002", note="ignored")]})
    # THEN it is applied, with the id as an integer
    assert response.status_code == 200
    assert response.json()["results"][0]["subscriptionId"] == 1002
    assert emu.status("ada@example.com", 1002) is not None


def test_non_strict_mode_still_rejects_status_in_place_of_statusState(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN strict mode off
    emu.configure(strict=False)
    body = item()
    body["status"] = body.pop("statusState")
    # WHEN the common mistake `status` is sent instead of `statusState`
    response = _post_json(client, {"inputs": [body]})
    # THEN statusState is reported missing
    assert_validation_error(response, "REQUIRED", "inputs[0].statusState")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"   ", "application/json"),
        (b'{"inputs": [', "application/json"),
        (b"\xff\xfe\x00garbage\x80", "application/json"),
        (b'{"inputs": NaN}', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
    ids=["empty", "whitespace", "truncated", "garbage-bytes", "nan", "100k-deep-array"],
)
def test_unreadable_bodies_are_a_400_invalid_json(
    client: httpx.Client, emu: Emulator, content: bytes, content_type: str
) -> None:
    # GIVEN a body that is not usable JSON
    # WHEN it is posted
    response = client.post(WRITE, content=content, headers={"Content-Type": content_type})
    # THEN the answer is a 400 INVALID_JSON in the Error shape, and the server keeps serving
    assert_validation_error(response, "INVALID_JSON")
    assert client.get(DEFINITIONS).status_code == 200


@pytest.mark.parametrize("depth", [70, 300, 5_000], ids=["70", "300", "5000"])
def test_deeply_nested_json_is_a_400_and_the_server_keeps_serving(client: httpx.Client, depth: int) -> None:
    # GIVEN an object nested `depth` levels deep inside inputs
    nested = b'{"inputs":[' + b'{"a":' * depth + b"1" + b"}" * depth + b"]}"
    # WHEN it is posted
    response = client.post(WRITE, content=nested, headers={"Content-Type": "application/json"})
    # THEN it is a whole-request VALIDATION_ERROR (unparseable, or not a PublicStatusRequest)
    assert_error(response, 400, "VALIDATION_ERROR")
    # AND the server still answers
    assert client.get(DEFINITIONS).status_code == 200


def test_a_non_json_content_type_is_a_415(client: httpx.Client) -> None:
    # GIVEN a valid JSON text sent as text/plain
    body = json.dumps({"inputs": [item()]})
    # WHEN it is posted
    response = client.post(WRITE, content=body, headers={"Content-Type": "text/plain"})
    # THEN it is refused as an unsupported media type
    body_json = assert_error(response, 415, "VALIDATION_ERROR")
    assert body_json["errors"][0]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_json_content_type_with_charset_is_accepted(client: httpx.Client) -> None:
    # GIVEN a JSON body labelled with a charset parameter
    body = json.dumps({"inputs": [item()]})
    # WHEN it is posted
    response = client.post(WRITE, content=body, headers={"Content-Type": "application/json; charset=UTF-8"})
    # THEN it is processed
    assert response.status_code == 200


def test_a_body_over_the_cap_is_a_413_and_the_connection_stays_usable(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a 64 KiB body cap
    emu.configure(max_body_bytes=64 * 1024)
    # WHEN a 100 KiB body arrives
    response = client.post(WRITE, content=b" " * (100 * 1024), headers={"Content-Type": "application/json"})
    # THEN it is a 413 in the Error shape
    assert_error(response, 413, "VALIDATION_ERROR")
    # AND the same keep-alive client can go on
    assert client.get(DEFINITIONS).status_code == 200


def test_a_body_far_over_the_cap_is_a_413_and_the_connection_is_closed(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a 4 KiB cap (bodies over 8x the cap are not drained)
    emu.configure(max_body_bytes=4096)
    # WHEN a 40 KiB body arrives
    response = client.post(WRITE, content=b"x" * 40_000, headers={"Content-Type": "application/json"})
    # THEN the 413 says the connection closes
    assert_error(response, 413, "VALIDATION_ERROR")
    assert response.headers["connection"] == "close"


def test_unknown_paths_are_a_404_in_the_error_shape(client: httpx.Client) -> None:
    # GIVEN paths the API does not have
    for path in (
        "/nope",
        "/communication-preferences/v3/statuses/batch/write",
        "/communication-preferences/v4/x",
    ):
        # WHEN called
        response = client.post(path, json={})
        # THEN each is a 404 OBJECT_NOT_FOUND
        assert_error(response, 404, "OBJECT_NOT_FOUND")


def test_a_known_path_with_the_wrong_method_is_a_405(client: httpx.Client) -> None:
    # GIVEN a POST-only route
    # WHEN it is called with GET
    response = client.get(WRITE)
    # THEN the answer is a 405 in the Error shape
    body = assert_error(response, 405, "VALIDATION_ERROR")
    assert "POST" in body["message"]


def test_batch_read_needs_the_channel_query_parameter(client: httpx.Client) -> None:
    # GIVEN a batch/read without ?channel=
    # WHEN posted
    response = client.post(READ, json={"inputs": ["ada@example.com"]})
    # THEN it is a 400 naming the parameter
    assert_validation_error(response, "REQUIRED", "channel")


def test_query_parameters_are_type_checked(client: httpx.Client) -> None:
    # GIVEN a non-integer businessUnitId and a non-boolean verbose
    bad_brand = client.post(
        READ, params={"channel": "EMAIL", "businessUnitId": "x"}, json={"inputs": ["a@b.co"]}
    )
    bad_verbose = client.post(
        f"{READ.removesuffix('/read')}/unsubscribe-all",
        params={"channel": "EMAIL", "verbose": "yes"},
        json={"inputs": ["a@b.co"]},
    )
    # THEN both are 400 INVALID_TYPE
    assert_validation_error(bad_brand, "INVALID_TYPE", "businessUnitId")
    assert_validation_error(bad_verbose, "INVALID_TYPE", "verbose")
