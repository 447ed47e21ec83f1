"""EmulatorConfig and Faults as JSON: round trips, partial dicts, unknown keys and bad values rejected,
named profiles, and run-time changes through configure()."""

from __future__ import annotations

import json

import pytest

from local.hubspot_emulator import PROFILES, EmulatorConfig, Faults, Subscription, profile, running_emulator


def test_config_round_trips_through_json() -> None:
    # GIVEN a config with non-default values, including custom subscriptions
    config = EmulatorConfig(
        batch_limit=10,
        retry_after_seconds=2,
        error_context_keys=("emailAddress",),
        subscriptions=(Subscription(7, "Only", business_unit_id=3, is_active=False),),
        oauth_response_style="camel",
    )
    # WHEN it is serialised to JSON text and loaded back
    loaded = EmulatorConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    # THEN it is equal, and derived views follow the subscriptions
    assert loaded == config
    assert loaded.definitions[7].name == "Only"
    assert loaded.brands == frozenset({0, 3})


def test_faults_round_trip_through_json_and_partial_dicts_use_defaults() -> None:
    # GIVEN a fault profile with tuples and optional values
    faults = Faults(script=("503", "hang"), error_statuses=(500,), latency_max_ms=5.0, seed=3)
    # WHEN it goes through JSON, and a partial dict is loaded
    loaded = Faults.from_dict(json.loads(json.dumps(faults.to_dict())))
    partial = Faults.from_dict({"throttle_next": 2})
    # THEN the round trip is exact and the partial one has defaults elsewhere
    assert loaded == faults
    assert partial == Faults(throttle_next=2)


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_limt": 1},
        {"batch_limit": 0},
        {"rate_limit_max": True},
        {"daily_limit": -1},
        {"partial_status_code": 201},
        {"retry_after_seconds": -3},
        {"error_context_keys": []},
        {"error_context_keys": ["a", "b", "c"]},
        {"oauth_response_style": "kebab"},
        {"subscriptions": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]},
        {"subscriptions": [{"id": -1, "name": "a"}]},
        {"subscriptions": [{"id": 1, "name": "a", "colour": "red"}]},
    ],
)
def test_invalid_config_values_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        EmulatorConfig.from_dict(bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"latency_ms": 10, "latency_max_ms": 5},
        {"error_statuses": [418]},
        {"error_statuses": []},
        {"script": ["ok", "teapot"]},
        {"throttle_next": -1},
        {"hang": 1},
    ],
)
def test_invalid_fault_values_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        Faults.from_dict(bad)


def test_every_named_profile_is_valid_and_none_injects_nothing() -> None:
    # GIVEN the named profiles
    # THEN each one loads by name and survives a JSON round trip, and "none" is the empty profile
    for name, faults in PROFILES.items():
        assert profile(name) is faults
        assert Faults.from_dict(faults.to_dict()) == faults
    assert profile("none") == Faults()
    assert {"none", "flaky", "throttled"} <= set(PROFILES)
    with pytest.raises(ValueError, match="unknown fault profile"):
        profile("apocalypse")


def test_configure_changes_fields_at_run_time_and_rejects_unknown_ones() -> None:
    with running_emulator() as emu:
        # WHEN fields are changed, with JSON-style values
        new = emu.configure(batch_limit=7, error_context_keys=["ids"])
        # THEN the new config is active
        assert new is emu.config
        assert (emu.config.batch_limit, emu.config.error_context_keys) == (7, ("ids",))
        # AND an unknown field is refused without changing anything
        with pytest.raises(ValueError, match="unknown"):
            emu.configure(batch_size=3)
        assert emu.config.batch_limit == 7


def test_a_single_string_is_not_a_token_list() -> None:
    # GIVEN the common mistake tokens="pat" (which would register "p", "a", "t")
    # THEN it is refused
    with pytest.raises(TypeError), running_emulator(tokens="pat-na1-x"):  # type: ignore[arg-type]
        pass
