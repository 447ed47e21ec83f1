"""Records sharing a messageId (or without one) keep their own outcomes (identity.py, respond.py)."""

from __future__ import annotations

from status_writer.identity import distinct
from status_writer.model import Outcome
from status_writer.respond import batch_response

from tests.unit.helpers import bare_message


def test_unique_ids_are_kept_as_they_are() -> None:
    messages = [bare_message("a", 0), bare_message("b", 1)]
    unique = distinct(messages)
    assert [m.message_id for m in unique] == ["a", "b"]
    assert [m.sqs_id for m in unique] == [None, None]


def test_shared_and_missing_ids_get_their_own_and_report_the_sqs_id() -> None:
    # GIVEN two records sharing "x" and one without an id
    unique = distinct([bare_message("x", 0), bare_message("x", 1), bare_message("", 2)])
    # THEN each has an id of its own, and each maps back to what SQS knows it by
    assert len({m.message_id for m in unique}) == 3
    assert sorted(m.sqs_message_id for m in unique) == ["", "x", "x"]


def test_a_shared_id_is_reported_once_when_any_record_carrying_it_comes_back() -> None:
    # GIVEN one record of "x" applied and one retryable
    unique = distinct([bare_message("x", 0), bare_message("x", 1), bare_message("y", 2)])
    outcomes = {
        unique[0].message_id: Outcome.APPLIED,
        unique[1].message_id: Outcome.RETRYABLE,
        "y": Outcome.APPLIED,
    }
    # THEN "x" is reported once
    assert batch_response(unique, outcomes) == {"batchItemFailures": [{"itemIdentifier": "x"}]}


def test_all_records_of_a_shared_id_failing_report_it_once() -> None:
    unique = distinct([bare_message("x", 0), bare_message("x", 1)])
    outcomes = {m.message_id: Outcome.RETRYABLE for m in unique}
    assert batch_response(unique, outcomes) == {"batchItemFailures": [{"itemIdentifier": "x"}]}
