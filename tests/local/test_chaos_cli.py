"""`make chaos`'s command line: the HubSpot-side writers' share (local.chaos.cli)."""

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
