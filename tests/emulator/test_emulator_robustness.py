"""Bad input below HTTP clients' politeness, sent over raw sockets: garbage request lines, bad framing,
chunked bodies, clients vanishing mid-body. The server answers in the Error shape or closes, and never
stops serving."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from local.hubspot_emulator import Emulator
from tests.emulator.helpers import DEFINITIONS, TOKEN, WRITE, item


def _raw(emu: Emulator, payload: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes on a new connection and read until the server closes it (or the timeout)."""
    url = urlsplit(emu.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def _status_and_json(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["tls-hello", "no-path", "bad-version", "huge-request-line", "unknown-method"],
)
def test_malformed_requests_get_an_error_body_and_the_server_keeps_serving(
    emu: Emulator, client: httpx.Client, payload: bytes
) -> None:
    # WHEN a malformed request is sent on its own connection
    raw = _raw(emu, payload)
    # THEN the answer is a 4xx/5xx in the Error shape, and the connection was closed by the server
    status, body = _status_and_json(raw)
    assert 400 <= status < 600
    assert (body["status"], body["category"]) == ("error", "VALIDATION_ERROR")
    assert b"Connection: close" in raw
    # AND other clients are still served
    assert client.get(DEFINITIONS).status_code == 200


def test_an_invalid_content_length_is_a_400(emu: Emulator) -> None:
    # WHEN the Content-Length is not a number
    raw = _raw(emu, f"POST {WRITE} HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n".encode())
    # THEN it is a 400 and the connection is closed
    status, body = _status_and_json(raw)
    assert status == 400
    assert "Content-Length" in body["message"]


def test_a_chunked_body_is_read(emu: Emulator) -> None:
    # GIVEN a valid body sent with chunked transfer encoding, in two chunks
    data = json.dumps({"inputs": [item("chunk@example.com")]}).encode()
    half = len(data) // 2
    chunks = (
        b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (data[:half], data[half:])) + b"0\r\n\r\n"
    )
    head = (
        f"POST {WRITE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    # WHEN it is sent
    status, _ = _status_and_json(_raw(emu, head.encode() + chunks))
    # THEN it is processed like any other body
    assert status == 200
    assert emu.status("chunk@example.com", 1001) is not None


def test_a_client_vanishing_mid_body_does_not_hurt_the_server(emu: Emulator, client: httpx.Client) -> None:
    # GIVEN a request announcing 1000 bytes of body
    url = urlsplit(emu.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(f"POST {WRITE} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode())
        # WHEN the client goes away after one byte
    # THEN nothing was logged as served, and the server still answers others
    assert client.get(DEFINITIONS).status_code == 200
    assert [e["route"] for e in emu.request_log()] == ["definitions"]


def test_a_keep_alive_connection_serves_many_requests(emu: Emulator) -> None:
    # GIVEN two requests written back to back on one connection (pipelined)
    one = f"GET {DEFINITIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    two = one.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
    # WHEN they are sent
    raw = _raw(emu, (one + two).encode())
    # THEN both are answered in order on the same connection
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    assert emu.counters()["by_route"] == {"definitions": {"200": 2}}
