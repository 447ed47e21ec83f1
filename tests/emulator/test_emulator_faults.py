"""Every injected fault over real HTTP: latency, 5xx (scripted and random), scripts, 429 bursts, daily
exhaustion, hang, drop, reset, lost responses after applying, whole-batch 400, PROCESSING, nameless
context, forced 403; faults never touch the control surface."""

from __future__ import annotations

import time

import httpx
import pytest

from local.hubspot_emulator import Emulator, Faults
from tests.emulator.conftest import SHARED_TLS
from tests.emulator.helpers import (
    DEFINITIONS,
    RATE_HEADERS,
    TOKEN,
    TOKEN_URL,
    assert_envelope,
    assert_error,
    item,
    write,
)


def _fresh_client(emu: Emulator, timeout: float = 5) -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.Client(base_url=emu.base_url, headers=headers, timeout=timeout, verify=SHARED_TLS)


def test_fixed_latency_delays_api_responses_but_not_the_control_surface(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN 150 ms of injected latency
    emu.set_faults(Faults(latency_ms=150))
    # WHEN an API call and a control call are made
    started = time.monotonic()
    response = client.get(DEFINITIONS)
    api_elapsed = time.monotonic() - started
    control = client.get("/_emulator/health")
    # THEN the API answer came no sooner than the latency and is otherwise normal
    assert response.status_code == 200
    assert api_elapsed >= 0.15
    assert control.status_code == 200
    assert emu.counters()["faults"] == {"latency": 1}


def test_a_latency_range_delays_by_at_least_its_minimum(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN latency drawn from 60-90 ms
    emu.set_faults(Faults(latency_ms=60, latency_max_ms=90, seed=1))
    # WHEN a call is made
    started = time.monotonic()
    client.get(DEFINITIONS)
    # THEN it took at least the minimum
    assert time.monotonic() - started >= 0.06


def test_scripted_5xx_answers_in_order_then_normal_service(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a script of every server error
    emu.set_faults(Faults(script=("500", "502", "503", "504")))
    # WHEN five writes are sent
    responses = [write(client, item(f"s{i}@example.com")) for i in range(5)]
    # THEN the first four are the scripted errors and the fifth is served
    assert [r.status_code for r in responses] == [500, 502, 503, 504, 200]
    assert_error(responses[0], 500, "INTERNAL_ERROR")
    assert_error(responses[2], 503, "SERVICE_UNAVAILABLE")
    for gateway in (responses[1], responses[3]):
        assert gateway.headers["content-type"].startswith("text/html")
        assert str(gateway.status_code) in gateway.text
    # AND every error answer still carries the rate-limit headers, and none of them applied anything
    assert all(h in r.headers for r in responses for h in RATE_HEADERS)
    assert [s["subscriberIdString"] for s in emu.snapshot()["statuses"]] == ["s4@example.com"]
    assert emu.counters()["faults"] == {"500": 1, "502": 1, "503": 1, "504": 1}


def test_a_mixed_script_is_consumed_one_entry_per_request(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the script 503, 429, drop, ok
    emu.set_faults(Faults(script=("503", "429", "drop", "ok")))
    # WHEN requests are made
    first = client.get(DEFINITIONS)
    second = client.get(DEFINITIONS)
    assert emu.remaining_script() == ["drop", "ok"]
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(DEFINITIONS)
    fourth = client.get(DEFINITIONS)
    # THEN each answer follows its entry, and the script is used up
    assert (first.status_code, second.status_code, fourth.status_code) == (503, 429, 200)
    assert second.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert emu.remaining_script() == []
    assert client.get(DEFINITIONS).status_code == 200


def test_an_error_rate_of_one_fails_every_request_with_the_chosen_statuses(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN every request failing with a 503
    emu.set_faults(Faults(error_rate=1.0, error_statuses=(503,)))
    # WHEN three requests are made
    statuses = [client.get(DEFINITIONS).status_code for _ in range(3)]
    # THEN all are 503
    assert statuses == [503, 503, 503]


def test_a_seeded_random_profile_repeats_the_same_sequence(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a 50 % error rate with a fixed seed
    faults = Faults(error_rate=0.5, error_statuses=(500,), seed=42)
    # WHEN the same profile is applied twice and 12 requests are made each time
    runs = []
    for _ in range(2):
        emu.set_faults(faults)
        runs.append([client.get(DEFINITIONS).status_code for _ in range(12)])
    # THEN both runs fail on the same requests, and both outcomes occur
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500}


def test_throttle_next_answers_429_n_times_without_consuming_quota(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN a burst of 2 throttled requests
    emu.set_faults(Faults(throttle_next=2))
    # WHEN three writes are sent
    responses = [write(client, item()) for _ in range(3)]
    # THEN two are 429 TEN_SECONDLY_ROLLING with Remaining 0, the third is served
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert responses[0].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    # AND only the served request counted against the daily limit
    assert responses[2].headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(emu.config.daily_limit - 1)
    assert emu.counters()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 2}


def test_throttle_for_seconds_throttles_until_the_period_ends(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN throttling for the next 0.3 s
    emu.set_faults(Faults(throttle_for_s=0.3))
    # WHEN called during and after the period
    during = client.get(DEFINITIONS)
    time.sleep(0.35)
    after = client.get(DEFINITIONS)
    # THEN only the call during the period was throttled
    assert (during.status_code, after.status_code) == (429, 200)


def test_daily_exhaustion_can_be_switched_on_and_off(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN daily exhaustion on
    emu.set_faults(Faults(daily_exhausted=True))
    # WHEN a call is made, then the fault is switched off and another is made
    exhausted = client.get(DEFINITIONS)
    emu.set_faults(Faults())
    restored = client.get(DEFINITIONS)
    # THEN the first was a 429 DAILY with Daily-Remaining 0 and the second is served
    assert exhausted.status_code == 429
    assert exhausted.json()["policyName"] == "DAILY"
    assert exhausted.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert restored.status_code == 200


def test_a_hang_outlasts_the_client_timeout_without_blocking_other_connections(emu: Emulator) -> None:
    # GIVEN the next request hangs for 2 s
    emu.set_faults(Faults(script=("hang",), hang_s=2))
    with _fresh_client(emu, timeout=0.3) as hung, _fresh_client(emu) as other:
        # WHEN a client with a 0.3 s timeout calls
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            write(hung, item("hang@example.com"))
        # THEN it timed out, and meanwhile another connection is served at once
        assert other.get(DEFINITIONS).status_code == 200
        assert time.monotonic() - started < 1.5
    assert emu.status("hang@example.com", 1001) is None
    assert emu.counters()["faults"] == {"hang": 1}


def test_a_drop_closes_the_connection_without_an_answer(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the next request is dropped
    emu.set_faults(Faults(script=("drop",)))
    # WHEN a write is sent
    with pytest.raises(httpx.RemoteProtocolError):
        write(client, item("drop@example.com"))
    # THEN nothing was applied, the log shows no status, and the client can carry on
    assert emu.status("drop@example.com", 1001) is None
    assert emu.request_log()[-1]["status"] is None
    assert write(client, item("drop@example.com")).status_code == 200


def test_a_reset_aborts_the_connection(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the next request is answered with a TCP reset
    emu.set_faults(Faults(script=("reset",)))
    # WHEN a call is made
    # THEN the client sees "connection reset by peer", not an HTTP answer
    with pytest.raises(httpx.ReadError, match="reset"):
        client.get(DEFINITIONS)
    assert client.get(DEFINITIONS).status_code == 200


def test_drop_after_applies_the_write_but_loses_the_answer(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN the response to the next request is lost after processing
    emu.set_faults(Faults(script=("drop-after",)))
    # WHEN a write is sent
    with pytest.raises(httpx.RemoteProtocolError):
        write(client, item("lost@example.com", 1002, "UNSUBSCRIBED"))
    # THEN the write was applied anyway
    assert emu.status("lost@example.com", 1002)["status"] == "UNSUBSCRIBED"


def test_hang_after_applies_the_write_and_times_the_client_out(emu: Emulator) -> None:
    # GIVEN the response to the next request hangs after processing
    emu.set_faults(Faults(script=("hang-after",), hang_s=2))
    # WHEN a write is sent by a client with a 0.3 s timeout
    with _fresh_client(emu, timeout=0.3) as hung, pytest.raises(httpx.ReadTimeout):
        write(hung, item("slow@example.com"))
    # THEN it was applied
    assert emu.status("slow@example.com", 1001)["status"] == "SUBSCRIBED"


def test_whole_batch_400_rejects_everything_when_one_item_is_bad(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN whole-batch rejection instead of per-item errors
    emu.set_faults(Faults(whole_batch_400=True))
    # WHEN a batch with one bad item is written, then an all-good batch
    rejected = write(client, item("ok@example.com"), item("bad@example.com", 999))
    accepted = write(client, item("ok@example.com"))
    # THEN the first is a 400 naming the bad input and applying nothing; the good batch is served
    body = assert_error(rejected, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["in"] == "inputs[1]"
    assert accepted.status_code == 200
    assert [s["subscriberIdString"] for s in emu.snapshot()["statuses"]] == ["ok@example.com"]
    assert emu.counters()["faults"] == {"batch-400": 1}


def test_processing_answers_without_results_but_the_writes_are_applied(
    client: httpx.Client, emu: Emulator
) -> None:
    # GIVEN PROCESSING answers
    emu.set_faults(Faults(processing=True))
    # WHEN a batch is written
    response = write(client, item("p1@example.com"), item("p2@example.com", 1003))
    # THEN the answer is a 200 PROCESSING with no results and no errors
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body, status="PROCESSING")
    assert body["results"] == []
    assert "errors" not in body
    # AND the writes were nevertheless applied
    assert emu.status("p1@example.com", 1001) is not None
    assert emu.status("p2@example.com", 1003) is not None


def test_nameless_context_errors_name_no_input(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN errors whose context names nothing
    emu.set_faults(Faults(nameless_context=True))
    # WHEN an item fails
    response = write(client, item("n@example.com", 31337))
    # THEN the per-item error has an empty context (clients must fall back to "unknown")
    assert response.status_code == 207
    assert response.json()["errors"][0]["context"] == {}


def test_forced_missing_scopes_is_a_403_for_an_all_scopes_token(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN forced 403s
    emu.set_faults(Faults(forced_missing_scopes=True))
    # WHEN a token holding every scope writes, then the fault is lifted and it writes again
    forced = write(client, item())
    emu.set_faults(Faults())
    lifted = write(client, item())
    # THEN the first is a 403 naming the route's scope and the second is served
    body = assert_error(forced, 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [
        "communication_preferences.statuses.batch.write"
    ]
    assert lifted.status_code == 200


@pytest.mark.parametrize(
    ("entry", "check"),
    [
        ("403", lambda r: r.status_code == 403),
        ("429-daily", lambda r: r.status_code == 429 and r.json()["policyName"] == "DAILY"),
        ("batch-400", lambda r: r.status_code == 400),
        ("nameless", lambda r: r.status_code == 207 and r.json()["errors"][0]["context"] == {}),
        ("processing", lambda r: r.status_code == 200 and r.json()["status"] == "PROCESSING"),
    ],
)
def test_one_shot_script_entries_apply_to_one_request_only(
    client: httpx.Client, emu: Emulator, entry: str, check: object
) -> None:
    # GIVEN a one-entry script
    emu.set_faults(Faults(script=(entry,)))
    batch = (item("one@example.com"), item("one@example.com", 4040))
    # WHEN the same partially failing batch is written twice
    first, second = write(client, *batch), write(client, *batch)
    # THEN the first shows the fault and the second is a normal 207
    assert callable(check)
    assert check(first), first.text
    assert second.status_code == 207
    assert second.json()["errors"][0]["context"]["ids"] == ["one@example.com"]


def test_faults_skip_the_token_endpoint_unless_its_path_is_selected(
    anon: httpx.Client, emu: Emulator
) -> None:
    # GIVEN every API request failing with 503, and an OAuth app
    emu.add_oauth_app("cid", "cs", "rt")
    form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "cs", "refresh_token": "rt"}
    emu.set_faults(Faults(error_rate=1.0, error_statuses=(503,)))
    # WHEN the token endpoint is called with the default path selection, then with /oauth/ selected too
    default = anon.post(TOKEN_URL, data=form)
    emu.set_faults(Faults(error_rate=1.0, error_statuses=(503,), path_prefixes=("/oauth/",)))
    selected = anon.post(TOKEN_URL, data=form)
    # THEN only the selected path was faulted
    assert (default.status_code, selected.status_code) == (200, 503)


def test_set_faults_restarts_the_script(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a script partly consumed
    emu.set_faults(Faults(script=("503", "503")))
    client.get(DEFINITIONS)
    # WHEN a new profile is set
    emu.set_faults(Faults(script=("500",)))
    # THEN only the new script remains and applies
    assert emu.remaining_script() == ["500"]
    assert client.get(DEFINITIONS).status_code == 500
    assert client.get(DEFINITIONS).status_code == 200


def test_injected_faults_are_named_in_the_request_log(client: httpx.Client, emu: Emulator) -> None:
    # GIVEN a 503 with latency
    emu.set_faults(Faults(script=("503",), latency_ms=1))
    # WHEN a request is made
    client.get(DEFINITIONS)
    # THEN its log entry names both faults
    assert emu.request_log()[-1]["faults"] == ["503", "latency"]
