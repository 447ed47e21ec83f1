"""Several portals in one emulator (docs/emulator.md, Several portals): one base URL, the token says
which portal; each portal has its own store, tokens, rate limit, daily counter, faults and request log;
the control API acts per portal through `?portal=ID`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.hubspot_emulator import Emulator, EmulatorConfig, Faults, PortalSpec, running_emulator
from local.hubspot_emulator.auth import fingerprint
from tests.emulator.conftest import SHARED_TLS
from tests.emulator.helpers import DEFINITIONS, WRITE, item, write

A, B = 101, 202
TOKEN_A, TOKEN_B = "pat-portal-a", "pat-portal-b"


@pytest.fixture
def two() -> Iterator[Emulator]:
    """Portal A (rate limit 3 per window, daily limit 5) and portal B (the defaults)."""
    specs = [
        PortalSpec(A, (TOKEN_A,), EmulatorConfig(rate_limit_max=3, daily_limit=5)),
        PortalSpec(B, (TOKEN_B,)),
    ]
    with running_emulator(portals=specs) as emulator:
        yield emulator


def _client(emu: Emulator, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=emu.base_url, headers=headers, timeout=5, verify=SHARED_TLS)


def test_a_write_with_one_portals_token_lands_only_in_that_portal(two: Emulator) -> None:
    """GIVEN two portals behind one base URL
    WHEN a batch/write goes out with portal A's token
    THEN A holds the status and logs the request with A's token; B holds nothing and logged nothing."""
    with _client(two, TOKEN_A) as client:
        assert write(client, item("ada@example.com", 1001, "UNSUBSCRIBED")).status_code == 200
    assert two.portal(A).status("ada@example.com", 1001) is not None
    assert two.portal(A).status("ada@example.com", 1001)["status"] == "UNSUBSCRIBED"  # type: ignore[index]
    assert two.portal(B).status("ada@example.com", 1001) is None
    assert [e["token_fingerprint"] for e in two.portal(A).request_log()] == [fingerprint(TOKEN_A)]
    assert two.portal(B).request_log() == []


def test_the_first_portal_is_the_emulator_itself_and_ids_may_be_digit_strings(two: Emulator) -> None:
    """GIVEN an emulator started with portals A then B
    WHEN its portals are looked up
    THEN the first is the emulator object (its single-portal API), ids are served in order, a digit
    string names the same portal, and an unknown one is a KeyError."""
    assert two.portal(A) is two
    assert two.portal(str(B)) is two.portal(B)
    assert two.portal_ids() == [A, B]
    assert two.config.portal_id == A
    assert two.portal(B).config.portal_id == B
    with pytest.raises(KeyError):
        two.portal(303)


def test_an_unknown_token_is_a_401_from_the_first_portal(two: Emulator) -> None:
    """GIVEN two portals
    WHEN a request carries a token neither knows
    THEN it is the 401 INVALID_AUTHENTICATION of today, logged by the first portal only."""
    with _client(two, "pat-nobody") as client:
        response = client.get(DEFINITIONS)
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"
    assert len(two.portal(A).request_log()) == 1
    assert two.portal(B).request_log() == []


def test_each_portal_has_its_own_rate_limit_window(two: Emulator) -> None:
    """GIVEN portal A limited to 3 calls per window, B at the default
    WHEN A's token spends A's window
    THEN A answers 429 naming portal A, while B's token still gets 200s and B's window is untouched."""
    with _client(two, TOKEN_A) as client_a, _client(two, TOKEN_B) as client_b:
        answers_a = [client_a.get(DEFINITIONS).status_code for _ in range(4)]
        answer_b = client_b.get(DEFINITIONS)
    assert answers_a == [200, 200, 200, 429]
    assert two.portal(A).counters()["rate_limited"]
    assert answer_b.status_code == 200
    assert int(answer_b.headers["X-HubSpot-RateLimit-Remaining"]) == EmulatorConfig().rate_limit_max - 1


def test_the_429_names_the_portal_it_came_from(two: Emulator) -> None:
    """GIVEN portal A's window spent
    WHEN A answers a 429
    THEN its groupName carries A's portal id."""
    with _client(two, TOKEN_A) as client:
        for _ in range(3):
            client.get(DEFINITIONS)
        body = client.get(DEFINITIONS).json()
    assert body["groupName"].endswith(f":{A}")


def test_each_portal_has_its_own_daily_counter(two: Emulator) -> None:
    """GIVEN two portals
    WHEN A's token makes 2 calls and B's 1
    THEN A's daily counter says 2 and B's says 1; A's daily remaining reflects A's own limit of 5."""
    with _client(two, TOKEN_A) as client_a, _client(two, TOKEN_B) as client_b:
        client_a.get(DEFINITIONS)
        second = client_a.get(DEFINITIONS)
        client_b.get(DEFINITIONS)
    assert two.portal(A).counters()["daily_used"] == 2
    assert two.portal(B).counters()["daily_used"] == 1
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "3"


def test_faults_strike_only_the_portal_they_were_set_on(two: Emulator) -> None:
    """GIVEN a 503 script set on portal B in-process
    WHEN both tokens call
    THEN B's call gets the 503 and A's a 200."""
    two.portal(B).set_faults(Faults(script=("503",)))
    with _client(two, TOKEN_A) as client_a, _client(two, TOKEN_B) as client_b:
        assert client_a.get(DEFINITIONS).status_code == 200
        assert client_b.get(DEFINITIONS).status_code == 503


def test_control_routes_act_on_the_portal_the_query_names(two: Emulator) -> None:
    """GIVEN two portals
    WHEN an actor change, a revoke and reads go to /_emulator/...?portal=B
    THEN they act on B only: B's status changes, B's token is revoked (401), A is untouched; without
    the parameter the first portal answers, and /_emulator/portals lists both."""
    change = {"email": "bo@example.com", "action": "status", "subscription_id": 1002, "state": "SUBSCRIBED"}
    with _client(two) as control:
        assert control.post("/_emulator/actor", params={"portal": B}, json=change).status_code == 200
        status_b = control.get(
            "/_emulator/status", params={"portal": B, "email": "bo@example.com", "subscription_id": 1002}
        ).json()["status"]
        status_a = control.get(
            "/_emulator/status", params={"email": "bo@example.com", "subscription_id": 1002}
        ).json()["status"]
        revoked = control.post("/_emulator/tokens/revoke", params={"portal": B}, json={"token": TOKEN_B})
        listed = control.get("/_emulator/portals").json()
    assert status_b["status"] == "SUBSCRIBED"
    assert status_a is None
    assert revoked.json() == {"revoked": True}
    assert listed == {"portals": [A, B]}
    with _client(two, TOKEN_B) as client_b, _client(two, TOKEN_A) as client_a:
        assert client_b.get(DEFINITIONS).status_code == 401
        assert client_a.get(DEFINITIONS).status_code == 200


def test_a_control_call_for_a_portal_not_served_is_refused(two: Emulator) -> None:
    """GIVEN two portals
    WHEN a control call names portal 303, or a portal that is no id
    THEN it is a 404 OBJECT_NOT_FOUND, or a 400, and nothing changes."""
    with _client(two) as control:
        missing = control.post("/_emulator/faults", params={"portal": 303}, json={"profile": "flaky"})
        garbage = control.get("/_emulator/state", params={"portal": "x"})
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert garbage.status_code == 400
    assert two.portal(A).faults() == Faults()
    assert two.portal(B).faults() == Faults()


def test_a_single_portal_emulator_still_takes_its_own_id_in_the_query(emu: Emulator) -> None:
    """GIVEN the single-portal emulator of the other tests
    WHEN a control call names its own portal id, or another
    THEN its own id is served as without the parameter, another is a 404."""
    own = emu.config.portal_id
    with _client(emu) as control:
        assert control.get("/_emulator/state", params={"portal": own}).status_code == 200
        assert control.get("/_emulator/state", params={"portal": own + 1}).status_code == 404
    assert emu.portal(own) is emu
    assert emu.portal_ids() == [own]


def test_portal_specs_that_would_make_routing_ambiguous_are_refused() -> None:
    """GIVEN portal specs sharing an id, or a token, or tokens given both ways
    WHEN an emulator is built with them
    THEN it is a ValueError."""
    with pytest.raises(ValueError, match="distinct"):
        Emulator(portals=[PortalSpec(1, ("t1",)), PortalSpec(1, ("t2",))])
    with pytest.raises(ValueError, match="one portal"):
        Emulator(portals=[PortalSpec(1, ("t",)), PortalSpec(2, ("t",))])
    with pytest.raises(ValueError, match="PortalSpec"):
        Emulator(tokens=["t"], portals=[PortalSpec(1, ("u",))])
    with pytest.raises(ValueError, match="positive"):
        PortalSpec(0)


def test_oauth_token_endpoint_goes_to_the_portal_of_the_app(two: Emulator) -> None:
    """GIVEN an OAuth app registered in portal B
    WHEN its refresh token is exchanged and the access token used for a write
    THEN the write lands in B, not in A."""
    two.portal(B).add_oauth_app("client-b", "secret-b", "refresh-b")
    form = {
        "grant_type": "refresh_token",
        "client_id": "client-b",
        "client_secret": "secret-b",
        "refresh_token": "refresh-b",
    }
    with _client(two) as anon:
        issued = anon.post("/oauth/v1/token", data=form)
    assert issued.status_code == 200
    with _client(two, issued.json()["access_token"]) as client:
        assert client.post(WRITE, json={"inputs": [item("cy@example.com")]}).status_code == 200
    assert two.portal(B).status("cy@example.com", 1001) is not None
    assert two.portal(A).status("cy@example.com", 1001) is None
