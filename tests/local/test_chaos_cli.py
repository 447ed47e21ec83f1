"""`make chaos`'s command line: the HubSpot-side writers' share and the portals (local.chaos.cli)."""

from __future__ import annotations

import pytest

from local.chaos.cli import parse_args


def test_the_profiles_set_a_share_of_contacts_with_hubspot_side_changes() -> None:
    """GIVEN the full and the small profile
    WHEN parsed without --actor-ratio
    THEN the full one changes 3 % of the contacts in HubSpot and the small one (make test) 10 %"""
    assert parse_args([]).actor_ratio == 0.03
    assert parse_args(["--profile", "small"]).actor_ratio == 0.1


@pytest.mark.parametrize(("value", "share"), [("0", 0.0), ("0.25", 0.25), ("1", 1.0)])
def test_the_flag_overrides_the_profile_and_0_turns_the_writers_off(value: str, share: float) -> None:
    """GIVEN the small profile
    WHEN --actor-ratio is given
    THEN it wins over the profile's share"""
    assert parse_args(["--profile", "small", "--actor-ratio", value]).actor_ratio == share


@pytest.mark.parametrize("value", ["-0.1", "1.01"])
def test_a_share_outside_0_to_1_is_refused(value: str) -> None:
    """GIVEN a share below 0 or above 1
    WHEN parsed
    THEN argparse exits 2"""
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--actor-ratio", value])
    assert exit_.value.code == 2


def test_one_portal_is_the_default() -> None:
    """GIVEN no --portals
    WHEN parsed
    THEN the run has one portal (today's run: one secret, no portalId in the messages)"""
    assert parse_args([]).portals == 1


def test_portals_takes_a_count() -> None:
    """GIVEN --portals 3
    WHEN parsed
    THEN the run has three portals, with the small profile as with the full one"""
    assert parse_args(["--portals", "3"]).portals == 3
    assert parse_args(["--profile", "small", "--portals", "3"]).portals == 3


@pytest.mark.parametrize("value", ["0", "-1", "9", "three"])
def test_a_portal_count_outside_1_to_8_is_refused(value: str) -> None:
    """GIVEN no portal, a negative count, more portals than one invocation delivers side by side, or no
    number
    WHEN parsed
    THEN argparse exits 2"""
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--portals", value])
    assert exit_.value.code == 2
