"""local/chaos/invariants.py: where invariant 2 says an invalid message ended."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from local.chaos.invariants import _invalid_fate

ITEM = SimpleNamespace(message_id="m-1", body='{"subscriptionId": 999999}')


def evidence(*, redriven: bool, last: tuple[float, float], outages: list[tuple[float, float]]) -> Any:
    """A drained run's evidence reduced to what the fate reads: one message, not deleted by the
    function, redriven by SQS or not, its last invocation and the DLQ's outage windows."""
    return SimpleNamespace(
        letters=SimpleNamespace(by_handler={}, redriven={"m-1"} if redriven else set()),
        tally=SimpleNamespace(deleted_ids=set(), windows={}, last_windows={"m-1": last}),
        schedule=SimpleNamespace(destroy_windows=[], outage_windows=outages),
    )


def test_an_invalid_message_redriven_after_its_last_invocation_met_the_dlq_deleted_is_the_fallback() -> None:
    # GIVEN SQS redrove it, and the DLQ was deleted (100-103 s) while its last invocation ran (102-104 s)
    ev = evidence(redriven=True, last=(102.0, 104.0), outages=[(100.0, 103.0)])
    # THEN it is the README's fallback (the DLQ refused its copy; SQS's redrive took over), not a failure
    assert _invalid_fate(ev, ITEM, {}) == "outage"


def test_an_invalid_message_redriven_with_the_dlq_up_is_a_failure() -> None:
    # GIVEN its last invocation ran after the DLQ was back THEN it is redriven without a reason: a problem
    ev = evidence(redriven=True, last=(104.0, 105.0), outages=[(100.0, 103.0)])
    assert _invalid_fate(ev, ITEM, {}).startswith("invalid message m-1 redriven by SQS without a reason")
    # AND with no outage at all, likewise
    assert _invalid_fate(evidence(redriven=True, last=(102.0, 104.0), outages=[]), ITEM, {}) != "outage"
