"""The ordering ledger: what was applied to HubSpot per contact, in DynamoDB. Only I/O.

It reads contacts' histories and commits new ones with the optimistic check; a contact someone else
recorded for meanwhile is reported as a conflict, and the caller re-plans it (``plan``). Item shapes
are in ``ledger_items``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from status_writer.entries import NEVER_RECORDED, Contact, Entry, EntryKey, History
from status_writer.ledger_items import compact, get_request, history_of, partition, put_action

MAX_GET_KEYS = 100  # BatchGetItem's limit
MAX_TRANSACTION_ACTIONS = 100  # TransactWriteItems' limit: one action per contact
TRANSACTION_ATTEMPTS = 3
GET_ATTEMPTS = 5

Change = tuple[Contact, History, Mapping[EntryKey, Entry]]  # contact, history as read, entries to record


TimeLeft = Callable[[], float]  # seconds a call may still take (deadline.Deadline.call_time_s)


class LedgerError(RuntimeError):
    """The ledger could not be read or written; the text names the AWS error, never data."""


@dataclass(slots=True)
class CommitReport:
    """Contacts whose history moved since it was read, and contacts that could not be written."""

    conflicts: set[Contact] = field(default_factory=set)
    failed: set[Contact] = field(default_factory=set)


class VersionLedger:
    """Every call is a real DynamoDB call: ``dynamodb`` (in the function, ``dynamodb.DynamoDBClient``)
    has ``batch_get_json`` and ``transact_write_json``: BatchGetItem and TransactWriteItems of requests
    given as JSON text (``ledger_items.get_request``, ``ledger_items.put_action``)."""

    def __init__(
        self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time, namespace: str = ""
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock
        self._namespace = namespace

    def for_portal(self, portal: str) -> VersionLedger:
        """The same table with one portal's keys (README: Many portals): no two portals share an item."""
        return VersionLedger(self._db, self._table, self._clock, namespace=portal)

    def _stored(self, contact: Contact) -> Contact:
        """The contact as its item's key names it: the portal's id before the address, if any."""
        return contact if not self._namespace else (f"{self._namespace}\n{contact[0]}", contact[1])

    @property
    def db(self) -> Any:
        """The DynamoDB client the ledger calls (benchmarks count its requests)."""
        return self._db

    def read(self, contacts: Iterable[Contact], time_left: TimeLeft | None = None) -> dict[Contact, History]:
        """Each contact's history (one key per contact, consistent reads). ``time_left`` (the
        invocation's: seconds a call may still take) bounds each DynamoDB call as a whole."""
        wanted = {partition(self._stored(contact)): contact for contact in contacts}
        found = dict.fromkeys(wanted.values(), NEVER_RECORDED)
        keys = list(wanted)
        for start in range(0, len(keys), MAX_GET_KEYS):
            for item in self._batch_get(keys[start : start + MAX_GET_KEYS], time_left):
                found[wanted[item["pk"]["S"]]] = history_of(item)
        return found

    def commit(
        self, changes: Sequence[Change], time_left: TimeLeft | None = None, sources: Collection[str] = ()
    ) -> CommitReport:
        """Record each contact's new entries (and ``sources``, the source HubSpot names the function's
        writes by). One transaction failing costs only its contacts."""
        report = CommitReport()
        now = self._clock()
        for start in range(0, len(changes), MAX_TRANSACTION_ACTIONS):
            group = [
                (contact, put_action(self._table, self._stored(contact), seen, entries, now, sources=sources))
                for contact, seen, entries in changes[start : start + MAX_TRANSACTION_ACTIONS]
            ]
            self._transact(group, report, time_left)
        return report

    def _transact(
        self, group: list[tuple[Contact, str]], report: CommitReport, time_left: TimeLeft | None
    ) -> None:
        """A contact whose condition failed is a conflict; the rest of the group is tried again."""
        pending = group
        for _ in range(TRANSACTION_ATTEMPTS):
            try:
                self._db.transact_write_json([action for _, action in pending], **_bound(time_left))
                return
            except Exception as error:
                if _code(error) != "TransactionCanceledException":
                    report.failed.update(contact for contact, _ in pending)
                    return
                reasons = getattr(error, "response", {}).get("CancellationReasons", [])
            codes = [str(reason.get("Code")) for reason in reasons]
            codes = (codes + ["None"] * len(pending))[: len(pending)]
            verdicts = list(zip(pending, codes, strict=True))
            report.conflicts.update(c for (c, _), code in verdicts if code == "ConditionalCheckFailed")
            pending = [(c, a) for (c, a), code in verdicts if code != "ConditionalCheckFailed"]
            if not pending:
                return
        report.failed.update(contact for contact, _ in pending)

    def _batch_get(self, keys: list[str], time_left: TimeLeft | None) -> list[dict[str, Any]]:
        """The items of these partition keys; the keys DynamoDB left unprocessed are asked again."""
        request = get_request(self._table, keys)
        found: list[dict[str, Any]] = []
        for _ in range(GET_ATTEMPTS):
            try:
                answer = self._db.batch_get_json(request, **_bound(time_left))
            except Exception as error:
                raise LedgerError(f"ledger batch_get_item failed ({_code(error)})") from None
            found.extend(answer.get("Responses", {}).get(self._table, []))
            unprocessed = answer.get("UnprocessedKeys")
            if not unprocessed:
                return found
            request = compact({"RequestItems": unprocessed})
        raise LedgerError("ledger read left keys unprocessed")


def _bound(time_left: TimeLeft | None) -> dict[str, float]:
    """The call's time bound for the ledger's client (dynamodb.DynamoDBClient takes ``limit_s``)."""
    return {} if time_left is None else {"limit_s": time_left()}


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__
