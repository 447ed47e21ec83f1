"""How often the credential is read: once per invocation (a bounded read costs a thread), again in the
next invocation (a rotated secret is picked up), and again after a 401 within the same invocation."""

from __future__ import annotations

import httpx
from status_writer.credentials import Credentials


class Budget:
    """One invocation's time budget, as credentials.CallTime sees it."""

    def call_time_s(self) -> float:
        return 5.0


class Secret:
    """A Secrets Manager stand-in that counts reads and can be rotated."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.reads: list[bool] = []  # the force flag of each read

    def __call__(self, _secret_id: str, force: bool) -> str:
        self.reads.append(force)
        return self.token


def credentials(secret: Secret) -> Credentials:
    return Credentials("hubspot/token", httpx.Client(), secret)


def test_one_invocation_reads_the_secret_once_however_many_calls_it_makes() -> None:
    # GIVEN one invocation
    secret, invocation = Secret("pat-one"), Budget()
    source = credentials(secret)
    # WHEN four calls ask for the token
    tokens = [source.access_token(invocation) for _ in range(4)]
    # THEN the secret was read once
    assert tokens == ["pat-one"] * 4
    assert len(secret.reads) == 1


def test_the_next_invocation_reads_again_and_sees_a_rotated_token() -> None:
    # GIVEN an invocation that read the token, then a rotation of the secret
    secret = Secret("pat-old")
    source = credentials(secret)
    assert source.access_token(Budget()) == "pat-old"
    secret.token = "pat-new"
    # WHEN the next invocation asks
    token = source.access_token(Budget())
    # THEN it read the secret again
    assert token == "pat-new"
    assert len(secret.reads) == 2


def test_a_401_within_the_invocation_forces_a_fresh_read() -> None:
    # GIVEN an invocation that read a token HubSpot then refused
    secret, invocation = Secret("pat-revoked"), Budget()
    source = credentials(secret)
    stale = source.access_token(invocation)
    secret.token = "pat-rotated"
    # WHEN the client refreshes after the 401 and asks again in the same invocation
    source.refresh(stale=stale)
    token = source.access_token(invocation)
    # THEN the secret was read again, forced past any cache
    assert token == "pat-rotated"
    assert secret.reads == [False, True]
