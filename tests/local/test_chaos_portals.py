"""`make chaos --portals N`'s portal-specific faults and their evidence (local.chaos.portals,
local.chaos.portal_faults): real HTTP to a three-portal emulator, as the function's calls reach it, and
the portals' secrets in moto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from local.aws.provision import create_portal_secrets
from local.chaos.injection import InjectionCounts
from local.chaos.portal_faults import check_isolation
from local.chaos.portals import Credential, PortalLayout
from local.hubspot_emulator import Emulator, EmulatorConfig, running_emulator
from local.workload.tally import BATCH_LOG_MESSAGE

WRITE = "/communication-preferences/2026-03/statuses/batch/write"


@pytest.fixture
def layout() -> PortalLayout:
    return PortalLayout.of(3)


@pytest.fixture
def emulator(layout: PortalLayout) -> Iterator[Emulator]:
    with running_emulator(EmulatorConfig(), portals=layout.specs(EmulatorConfig())) as emu:
        yield emu


def _credentials(layout: PortalLayout, emulator: Emulator, secrets: Any = None) -> list[Credential]:
    names = create_portal_secrets(secrets, layout.tokens) if secrets else {p: f"s-{p}" for p in layout.ids}
    return layout.credentials(emulator, SimpleNamespace(portal_secrets=names), seed=1)


def _secret(secrets: Any, portal: int) -> str:
    value = secrets.get_secret_value(SecretId=f"hubspot/portal-{portal}")["SecretString"]
    return str(json.loads(value)["accessToken"])


def _write(emulator: Emulator, token: str, email: str) -> int:
    item = {
        "subscriberIdString": email,
        "subscriptionId": 1001,
        "statusState": "SUBSCRIBED",
        "channel": "EMAIL",
    }
    response = httpx.post(
        emulator.base_url + WRITE,
        json={"inputs": [item]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    return response.status_code


def _invocation(started: float, ended: float, portals: dict[str, dict[str, int]]) -> Any:
    line = {"message": BATCH_LOG_MESSAGE, "portals": portals}
    return SimpleNamespace(
        started=started,
        ended=ended,
        result=SimpleNamespace(log_records=[line]),
        verdict=SimpleNamespace(kind="partial"),
    )


def test_the_layout_gives_one_portal_a_tenth_of_the_rate_limit_and_names_the_revoked_one(
    layout: PortalLayout, emulator: Emulator
) -> None:
    """GIVEN the three-portal layout of make chaos --portals 3
    WHEN the emulator serves its specs
    THEN the second portal is the revoked one, the third answers at a tenth of the others' rate limit,
    and a one-portal layout has no portal-specific fault at all"""
    first, second, third = layout.ids
    assert layout.revoked == second
    assert layout.limited == third
    assert emulator.portal(third).config.rate_limit_max == EmulatorConfig().rate_limit_max // 10
    assert emulator.portal(first).config.rate_limit_max == EmulatorConfig().rate_limit_max
    one = PortalLayout.of(1)
    assert (one.ids, one.revoked, one.limited, one.specs(EmulatorConfig())) == ((), None, None, [])


def test_the_limited_portal_gets_a_thirtieth_of_the_others_contacts(layout: PortalLayout) -> None:
    """GIVEN the three-portal layout WHEN the workload spreads contacts over its rotation THEN each
    other portal gets thirty contacts for each of the limited portal's, and one portal is a plain run"""
    spread = [layout.rotation[i % len(layout.rotation)] for i in range(6_100)]
    first, second, third = layout.ids
    assert (spread.count(first), spread.count(second), spread.count(third)) == (3_000, 3_000, 100)
    assert PortalLayout.of(1).rotation == ()


def test_a_revoked_portal_answers_401_until_its_rotated_token_is_in_its_secret(
    layout: PortalLayout, emulator: Emulator, aws: str
) -> None:
    """GIVEN the revoked portal's credential
    WHEN it is revoked, then rotated
    THEN its token answers 401 while the others still write; after the rotation the new token is in
    that portal's secret only and writes there, and the old one stays refused"""
    import boto3

    secrets = boto3.client("secretsmanager")
    credentials = _credentials(layout, emulator, secrets)
    revoked = PortalLayout.credential(layout.revoked, credentials)
    assert revoked is not None
    old = revoked.token
    revoked.revoke()
    assert _write(emulator, old, "ada@example.com") == 401
    assert _write(emulator, credentials[0].token, "bo@example.com") == 200
    revoked.rotate(secrets, InjectionCounts())
    assert _secret(secrets, layout.revoked) == revoked.token != old
    assert [_secret(secrets, c.portal) for c in credentials if c is not revoked] == [
        c.token for c in credentials if c is not revoked
    ]
    assert _write(emulator, revoked.token, "ada@example.com") == 200
    assert _write(emulator, old, "ada@example.com") == 401
    assert emulator.portal(layout.revoked).status("ada@example.com", 1001) is not None
    assert revoked.used == [old, revoked.token]


def test_isolation_holds_when_the_others_write_while_the_revoked_portal_is_refused(
    layout: PortalLayout, emulator: Emulator
) -> None:
    """GIVEN a revocation window in which the revoked portal got a 401 and both other portals wrote,
    and an invocation whose summary line held the revoked portal back while applying another
    WHEN the evidence is checked
    THEN there is no problem, and the figures count the 401, each portal's writes and the invocation"""
    credentials = _credentials(layout, emulator)
    first, second, third = layout.ids
    start = time.time()
    credentials[1].revoke()
    assert _write(emulator, credentials[1].token, "ada@example.com") == 401
    assert _write(emulator, credentials[0].token, "bo@example.com") == 200
    assert _write(emulator, credentials[2].token, "cy@example.com") == 200
    end = time.time()
    mixed = _invocation(start, end, {str(second): {"retryable": 1}, str(first): {"applied": 1}})
    problems, figures = check_isolation(credentials, second, [(start, end)], [mixed])
    assert problems == []
    assert figures["revoked_portal_401s_in_windows"] == 1
    assert figures["other_portals_writes_applied_in_windows"] == {str(first): 1, str(third): 1}
    assert figures["invocations_applying_others_while_revoked"] == 1
    assert figures["windows_refused_without_others_writes"] == 0


def test_isolation_fails_when_the_others_were_held_while_one_portal_was_refused(
    layout: PortalLayout, emulator: Emulator
) -> None:
    """GIVEN a revocation window in which the revoked portal got a 401 and the other portals' calls
    failed too (as if one portal's broken token held every portal's messages back)
    WHEN the evidence is checked
    THEN the idle portals and the missing mixed invocation are each a problem, and the window is counted
    as one in which the others wrote nothing"""
    credentials = _credentials(layout, emulator)
    first, second, third = layout.ids
    start = time.time()
    credentials[1].revoke()
    assert _write(emulator, credentials[1].token, "ada@example.com") == 401
    assert _write(emulator, "pat-no-portal", "bo@example.com") == 401  # lands in the first portal
    end = time.time()
    held = _invocation(start, end, {str(second): {"retryable": 1}, str(first): {"retryable": 1}})
    problems, figures = check_isolation(credentials, second, [(start, end)], [held])
    assert len(problems) == 2
    assert f"portals [{first}, {third}] applied nothing" in problems[0]
    assert "no invocation applied another portal's messages" in problems[1]
    assert figures["windows_refused_without_others_writes"] == 1
