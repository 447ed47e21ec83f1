"""HubSpot's transport (transport.py): the request one exchange puts on the wire is the one httpx's own
``build_request`` would build, and no cookie a peer sets is ever sent back."""

from __future__ import annotations

import httpx
import pytest
from status_writer.config import Settings
from status_writer.transport import TOKEN_MARK, Request, answer_body, exchange, json_or_none, make_http_client

TOKEN = "pat-na1-transport"


class Recorder(httpx.BaseTransport):
    """Keeps every request it is handed; answers each with ``headers`` and an empty JSON object."""

    def __init__(self, headers: list[tuple[str, str]] | None = None) -> None:
        self.seen: list[httpx.Request] = []
        self._headers = headers or []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        return httpx.Response(200, headers=self._headers, content=b"{}")


def client_with(transport: Recorder, base_url: str = "http://127.0.0.1:9/base") -> httpx.Client:
    return make_http_client(Settings(secret_id="hubspot-token", api_base_url=base_url), transport=transport)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/communication-preferences/2026-03/statuses/batch/read", {"channel": "EMAIL"}),
        ("/communication-preferences/2026-03/statuses/batch/write", None),
        ("/communication-preferences/2026-03/statuses/a%2Bb%40x%2Fy@example.com", {"channel": "EMAIL"}),
        (
            "communication-preferences/v4/statuses/batch/unsubscribe-all",
            {"channel": "EMAIL", "verbose": "true"},
        ),
    ],
)
def test_an_exchange_sends_what_httpx_build_request_would(path: str, params: dict[str, str] | None) -> None:
    # GIVEN the function's client over a transport that records what reaches it
    transport = Recorder()
    client = client_with(transport)
    expected = client.build_request(
        "POST",
        path,
        params=params,
        content=b'{"inputs":[]}',
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    # WHEN one call is exchanged
    exchange(client, Request(path, params, b'{"inputs":[]}'), TOKEN, 5.0)
    # THEN its method, URL, headers and body are those httpx would have built
    sent = transport.seen[-1]
    assert (sent.method, str(sent.url)) == (expected.method, str(expected.url))
    assert sorted(sent.headers.multi_items()) == sorted(expected.headers.multi_items())
    assert sent.content == expected.content


def test_a_get_carries_no_body_and_no_content_type() -> None:
    # GIVEN the function's client
    transport = Recorder()
    client = client_with(transport)
    # WHEN a per-contact read (a GET) is exchanged
    exchange(client, Request("/statuses/ada@example.com", {"channel": "EMAIL"}, b"", "GET"), TOKEN, 5.0)
    # THEN it is a bodiless GET of the contact's URL
    sent = transport.seen[-1]
    assert sent.method == "GET"
    assert str(sent.url) == "http://127.0.0.1:9/base/statuses/ada@example.com?channel=EMAIL"
    assert sent.content == b""
    assert "content-type" not in sent.headers


def test_a_cookie_set_by_the_peer_is_never_sent_back() -> None:
    # GIVEN a peer that sets a cookie on every answer
    transport = Recorder(headers=[("Set-Cookie", "session=stolen; Path=/")])
    client = client_with(transport)
    request = Request("/communication-preferences/2026-03/statuses/batch/write", None, b"{}")
    # WHEN two calls are exchanged, one after the other
    exchange(client, request, TOKEN, 5.0)
    exchange(client, request, TOKEN, 5.0)
    # THEN neither carries a cookie, and the client keeps none
    assert [sent.headers.get("cookie") for sent in transport.seen] == [None, None]
    assert len(client.cookies.jar) == 0


def test_an_answer_quoting_the_token_has_it_replaced_in_every_string_and_key() -> None:
    # GIVEN an answer that quotes the call's token in a message, a nested list and a key, one of them
    # written with JSON escapes
    escaped = "".join(f"\\u{ord(c):04x}" for c in TOKEN)
    content = (
        f'{{"message":"Bearer {TOKEN}","errors":[{{"context":{{"x":["{escaped}"]}}}}],"{TOKEN}":1}}'
    ).encode()
    # WHEN it is read
    body = answer_body(content, TOKEN)
    # THEN the token is nowhere in it, and what was around it is kept
    assert body == {
        "message": f"Bearer {TOKEN_MARK}",
        "errors": [{"context": {"x": [TOKEN_MARK]}}],
        TOKEN_MARK: 1,
    }


def test_an_answer_without_the_token_is_read_as_it_is() -> None:
    # GIVEN a batch answer that does not mention the token, with and without an escape
    for content in (b'{"status":"COMPLETE","results":[]}', b'{"message":"caf\\u00e9"}'):
        # WHEN it is read THEN it is the plain JSON value
        assert answer_body(content, TOKEN) == json_or_none(content)


def test_an_answer_too_deep_to_search_for_the_token_is_not_trusted() -> None:
    # GIVEN a body that parses but nests deeper than the search for the token can follow
    content = b"[" * 3000 + f'"{TOKEN}"'.encode() + b"]" * 3000
    # WHEN it is read THEN it is no answer at all (judged as unknown), never one holding the token
    assert answer_body(content, TOKEN) is None


def test_every_secret_the_call_carried_is_replaced() -> None:
    # GIVEN a token endpoint's answer that quotes both the refresh token and the client secret
    content = b'{"status":"BAD_REFRESH_TOKEN","message":"refresh-9 of client with secret-9"}'
    # WHEN it is read with both THEN neither is left, and HubSpot's name for the error is
    assert answer_body(content, "refresh-9", "secret-9") == {
        "status": "BAD_REFRESH_TOKEN",
        "message": f"{TOKEN_MARK} of client with {TOKEN_MARK}",
    }
