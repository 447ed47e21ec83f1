"""The ledger's DynamoDB item shapes (ledger_items.py) and the commit's per-transaction verdicts."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from status_writer.entries import History, entry_of
from status_writer.ledger import GET_ATTEMPTS, LedgerError, VersionLedger
from status_writer.ledger_items import RETENTION_S, SORT_KEY, get_request, history_of, partition, put_action
from status_writer.model import StatusUpdate

from tests.unit.helpers import update

ADA = ("ada@example.com", "EMAIL")


def test_one_item_per_contact_holds_every_entry_and_reads_back_the_same() -> None:
    # GIVEN two entries of one contact
    entries = {
        e.key: e for e in (entry_of(update(subscription_id=1001)), entry_of(update(subscription_id=1002)))
    }
    # WHEN shaped as the first recording
    action = json.loads(put_action("versions", ADA, History(), entries, now_s=1_000))
    item = action["Put"]["Item"]
    # THEN it is one item keyed by the contact's hash, no address in a key, with the entries in one
    # attribute, the count 1 and the TTL
    assert item["pk"] == {"S": partition(ADA)}
    assert "ada" not in item["pk"]["S"]
    assert item["sk"] == {"S": SORT_KEY}
    assert item["n"] == {"N": "1"}
    assert item["expires_at"] == {"N": str(1_000 + RETENTION_S)}
    assert len(json.loads(item["h"]["S"])) == 2
    assert action["Put"]["ConditionExpression"] == "attribute_not_exists(n)"
    assert history_of(item) == History(entries=entries, count=1)


def test_an_action_is_json_that_carries_any_text_an_entry_may_hold_and_reads_back_the_same() -> None:
    # GIVEN an entry whose explanation holds quotes, a backslash, a newline, non-ASCII and an emoji,
    # with HubSpot's stamps, and sources with a quote (and one with a newline, which is left out)
    text = 'Said "yes" \\ on the\nform, café 🎉'
    entry = replace(entry_of(update()), payload={**entry_of(update()).payload, "legalBasisExplanation": text})
    entry = replace(entry, stamps=(1_700_000_000_123_000,))
    # WHEN shaped as a later recording
    action = put_action(
        "versions", ADA, History(count=2), {entry.key: entry}, now_s=5, sources={'Public "API"', "a\nb"}
    )
    # THEN it is JSON, ASCII only, and its item reads back as the entry, the count and the sources
    assert action.isascii()
    item = json.loads(action)["Put"]["Item"]
    history = history_of(item)
    assert history.entries == {entry.key: entry}
    assert history.entries[entry.key].payload["legalBasisExplanation"] == text
    assert history.entries[entry.key].stamps == entry.stamps
    assert history.count == 3
    assert history.sources == {'Public "API"'}


def test_a_later_recording_is_conditional_on_the_count_read() -> None:
    action = json.loads(put_action("versions", ADA, History(count=4), {}, now_s=0))
    assert action["Put"]["ConditionExpression"] == "n = :seen"
    assert action["Put"]["ExpressionAttributeValues"] == {":seen": {"N": "4"}}
    assert action["Put"]["Item"]["n"] == {"N": "5"}


def test_the_source_of_the_functions_writes_is_kept_with_the_contact() -> None:
    # GIVEN an environment that knows HubSpot names its writes "Public API"
    action = json.loads(put_action("versions", ADA, History(), {}, now_s=0, sources={"Public API"}))
    # WHEN the item is read back THEN the source comes with the history; an item without it has none
    assert history_of(action["Put"]["Item"]).sources == {"Public API"}
    bare = json.loads(put_action("versions", ADA, History(), {}, now_s=0))
    assert history_of(bare["Put"]["Item"]).sources == set()


def test_a_missing_item_is_an_empty_history() -> None:
    assert history_of(None) == History()


def test_the_history_every_never_recorded_contact_shares_cannot_be_changed_in_place() -> None:
    # GIVEN the history of a contact the ledger never recorded (one value shared by all such contacts)
    history = history_of(None)
    entry = entry_of(update())
    # WHEN code tries to write into its maps THEN it is refused, so no other contact's history changes
    with pytest.raises(TypeError):
        history.entries[entry.key] = entry  # type: ignore[index]
    with pytest.raises(TypeError):
        history.current[entry.key] = ("SUBSCRIBED", 0)  # type: ignore[index]
    assert history_of(None).entries == {}


class FakeDynamoDB:
    """Answers transact_write_json from a script of errors, one per call (None: success)."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_json(self, actions: list[str]) -> dict[str, Any]:
        self.calls.append([json.loads(action) for action in actions])
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return {}


def cancelled(*codes: str) -> ClientError:
    error = ClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "x"}}, "TransactWriteItems"
    )
    error.response["CancellationReasons"] = [{"Code": code} for code in codes]  # type: ignore[typeddict-unknown-key]
    return error


def changes(count: int) -> list[Any]:
    writes: list[StatusUpdate] = [update(f"u{n}@example.com", message_id=f"m{n}") for n in range(count)]
    return [(w.subscriber, History(), {entry_of(w).key: entry_of(w)}) for w in writes]


def test_a_conflicting_contact_is_reported_and_the_rest_recorded() -> None:
    # GIVEN a transaction whose second contact's condition fails
    db = FakeDynamoDB(cancelled("None", "ConditionalCheckFailed", "None"), None)
    # WHEN three contacts are committed
    report = VersionLedger(db, "versions").commit(changes(3))
    # THEN the second is a conflict, the other two are written in a retry
    assert report.conflicts == {("u1@example.com", "EMAIL")}
    assert report.failed == set()
    assert len(db.calls[1]) == 2


def test_one_failing_transaction_costs_only_its_contacts() -> None:
    # GIVEN 150 contacts (two transactions) and DynamoDB refusing the first
    db = FakeDynamoDB(
        ClientError({"Error": {"Code": "ValidationException", "Message": "x"}}, "TransactWriteItems"), None
    )
    report = VersionLedger(db, "versions").commit(changes(150))
    # THEN the first transaction's 100 contacts failed, the other 50 are recorded
    assert len(report.failed) == 100
    assert [len(call) for call in db.calls] == [100, 50]


def test_every_transaction_failing_fails_every_contact() -> None:
    db = FakeDynamoDB(RuntimeError("down"), RuntimeError("down"))
    report = VersionLedger(db, "versions").commit(changes(101))
    assert len(report.failed) == 101
    assert report.conflicts == set()


def test_a_read_asks_for_each_contacts_one_item_consistently_and_only_what_its_history_needs() -> None:
    # GIVEN two contacts' partition keys WHEN the read's request is shaped
    keys = [partition(ADA), partition(("bob@example.com", "EMAIL"))]
    request = json.loads(get_request("versions", keys))
    # THEN it is BatchGetItem's request: one key per contact, consistent, projected to what history_of reads
    assert request == {
        "RequestItems": {
            "versions": {
                "Keys": [{"pk": {"S": key}, "sk": {"S": SORT_KEY}} for key in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "pk, n, h, src",
            }
        }
    }


class FakeReads:
    """Answers batch_get_json from a script of answers, one per call; records each request."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def batch_get_json(self, request: str) -> dict[str, Any]:
        self.requests.append(json.loads(request))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def recorded(contact: tuple[str, str], count: int) -> dict[str, Any]:
    return {"pk": {"S": partition(contact)}, "n": {"N": str(count)}, "h": {"S": "{}"}}


def test_keys_dynamodb_left_unprocessed_are_asked_again_and_their_items_read() -> None:
    # GIVEN DynamoDB answering the first read with one of two items and the other key unprocessed
    bob = ("bob@example.com", "EMAIL")
    left = {"versions": {"Keys": [{"pk": {"S": partition(bob)}, "sk": {"S": SORT_KEY}}]}}
    db = FakeReads(
        {"Responses": {"versions": [recorded(ADA, 2)]}, "UnprocessedKeys": left},
        {"Responses": {"versions": [recorded(bob, 5)]}, "UnprocessedKeys": {}},
    )
    # WHEN the ledger reads both
    histories = VersionLedger(db, "versions").read([ADA, bob])
    # THEN the unprocessed key was asked again as DynamoDB named it, and both histories were read
    assert db.requests[1] == {"RequestItems": left}
    assert histories[ADA].count == 2
    assert histories[bob].count == 5


def test_keys_left_unprocessed_on_every_attempt_fail_the_read() -> None:
    # GIVEN DynamoDB leaving the key unprocessed every time (all fail)
    left = {"versions": {"Keys": [{"pk": {"S": partition(ADA)}, "sk": {"S": SORT_KEY}}]}}
    db = FakeReads({"Responses": {}, "UnprocessedKeys": left})
    # WHEN the ledger reads THEN it gives up after its attempts with a named error
    with pytest.raises(LedgerError, match="unprocessed"):
        VersionLedger(db, "versions").read([ADA])
    assert len(db.requests) == GET_ATTEMPTS
