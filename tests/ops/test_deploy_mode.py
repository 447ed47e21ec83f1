"""`make deploy` asks the first time and reuses the saved answers afterwards."""

from __future__ import annotations

import tomllib
from pathlib import Path

from local.ops.deploy_mode import mode, saved_answers

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_samconfig_has_no_answers_yet_so_the_first_deploy_is_guided() -> None:
    # GIVEN the samconfig.toml of a fresh clone WHEN deciding THEN guided
    answers = saved_answers(tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8")))
    assert answers["stack_name"] == "hubspot-subscription-sync"
    assert mode(answers, None) == "guided"


def test_saved_answers_and_an_existing_stack_deploy_without_questions() -> None:
    config = {"default": {"deploy": {"parameters": {"stack_name": "s", "region": "eu-west-1"}}}}
    answers = saved_answers(config)
    assert mode(answers, True) == "saved"
    assert mode(answers, None) == "saved"  # cannot tell: sam deploy reports the real problem


def test_saved_answers_for_a_stack_that_is_gone_ask_again() -> None:
    answers = {"stack_name": "s", "region": "eu-west-1"}
    assert mode(answers, False) == "guided"
    assert mode({}, True) == "guided"
