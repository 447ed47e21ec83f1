"""Fixtures for the emulator's contract tests: one emulator for the whole session, reset to its start
state (credentials included) before every test, and a keep-alive httpx client holding the test token."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from local.hubspot_emulator import Emulator, running_emulator
from tests.emulator.helpers import TOKEN

# httpx builds a TLS context (CA bundle included) per client unless given one: ~0.1 s each on this machine.
# The emulator is plain HTTP, so every test client shares this one.
SHARED_TLS = ssl.create_default_context()


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[Emulator]:
    """Started once; tests get it through `emu`, which resets it."""
    with running_emulator(tokens=[TOKEN]) as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: Emulator) -> Iterator[Emulator]:
    """The emulator in its start state: default config, no faults, only TOKEN, empty state and log."""
    shared_emulator.reset(keep_tokens=False)
    yield shared_emulator
    shared_emulator.reset(keep_tokens=False)


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    """A keep-alive client sending `Authorization: Bearer TOKEN`."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=5, verify=SHARED_TLS) as c:
        yield c


@pytest.fixture
def anon(emu: Emulator) -> Iterator[httpx.Client]:
    """A client without credentials."""
    with httpx.Client(base_url=emu.base_url, timeout=5, verify=SHARED_TLS) as c:
        yield c
