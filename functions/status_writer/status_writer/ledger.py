"""The version ledger: what was applied to HubSpot per subscriber, in DynamoDB.

One partition per subscriber (a hash of email and channel: no address in the key). Its ``HEAD`` item
counts recordings (``n``, the optimistic-concurrency guard), keeps the newest version applied and one
``u_<scope>`` attribute per opt-out; ``S#<subscription>`` and ``U#<scope>`` items keep the newest
applied input of each key, so a subscriber can be replayed in version order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from status_writer.model import StatusUpdate, UnsubscribeAll
from status_writer.sequencing import Subscriber, SubscriberRecord, opt_out_scope, version

HEAD = "HEAD"
RETENTION_S = 35 * 86_400  # longer than any message can live in SQS (14 days) plus its DLQ redrive
MAX_GET_KEYS = 100  # BatchGetItem's limit
MAX_TRANSACTION_ACTIONS = 100  # TransactWriteItems' limit
TRANSACTION_ATTEMPTS = 3


class LedgerError(RuntimeError):
    """The ledger could not be read or written; the text names the AWS error, never data."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One applied input as the ledger keeps it, to be sent again in a replay."""

    version: str
    kind: str  # "write" or "unsubscribe"
    payload: Mapping[str, Any]


def partition(subscriber: Subscriber) -> str:
    email, channel = subscriber
    return hashlib.sha256(f"{email}\n{channel}".encode()).hexdigest()[:40]


class VersionLedger:
    """Reads and records applied versions; every call is a real DynamoDB call (low-level client)."""

    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def read(
        self, writes: Iterable[StatusUpdate], unsubscribes: Iterable[UnsubscribeAll]
    ) -> dict[Subscriber, SubscriberRecord]:
        """The ledger's view of every subscriber in the batch (HEAD, plus each written subscription)."""
        keys: dict[tuple[str, str], tuple[Subscriber, int | None]] = {}
        for write in writes:
            pk = partition(write.subscriber)
            keys[(pk, HEAD)] = (write.subscriber, None)
            keys[(pk, f"S#{write.subscription_id}")] = (write.subscriber, write.subscription_id)
        for request in unsubscribes:
            keys[(partition(request.subscriber), HEAD)] = (request.subscriber, None)
        heads: dict[Subscriber, dict[str, Any]] = {}
        written: dict[Subscriber, dict[int, str]] = {}
        ordered = list(keys)
        for start in range(0, len(ordered), MAX_GET_KEYS):
            for item in self._batch_get(ordered[start : start + MAX_GET_KEYS]):
                subscriber, subscription = keys[(item["pk"]["S"], item["sk"]["S"])]
                if subscription is None:
                    heads[subscriber] = item
                else:
                    written.setdefault(subscriber, {})[subscription] = item["v"]["S"]
        subscribers = {subscriber for subscriber, _ in keys.values()}
        return {s: _record(heads.get(s), written.get(s, {})) for s in subscribers}

    def record(
        self,
        applied: Sequence[StatusUpdate | UnsubscribeAll],
        seen: Mapping[Subscriber, SubscriberRecord],
    ) -> set[Subscriber]:
        """Record what this invocation applied; return the subscribers someone else recorded for since
        ``seen`` was read (their writes may have crossed ours: the caller replays them)."""
        by_subscriber: dict[Subscriber, list[StatusUpdate | UnsubscribeAll]] = {}
        for item in applied:
            by_subscriber.setdefault(item.subscriber, []).append(item)
        groups = [
            (subscriber, self._actions(subscriber, items, seen.get(subscriber, SubscriberRecord())))
            for subscriber, items in by_subscriber.items()
        ]
        conflicts: set[Subscriber] = set()
        batch: list[tuple[Subscriber, list[dict[str, Any]]]] = []
        size = 0
        for subscriber, actions in groups:
            if batch and size + len(actions) > MAX_TRANSACTION_ACTIONS:
                conflicts |= self._transact(batch)
                batch, size = [], 0
            batch.append((subscriber, actions))
            size += len(actions)
        if batch:
            conflicts |= self._transact(batch)
        return conflicts

    def history(self, subscriber: Subscriber) -> tuple[SubscriberRecord, list[LedgerEntry]]:
        """Everything the ledger holds for one subscriber, read consistently, oldest version first."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition(subscriber)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._call("query", **request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        head = next((item for item in items if item["sk"]["S"] == HEAD), None)
        entries = [
            LedgerEntry(
                item["v"]["S"], "write" if item["sk"]["S"].startswith("S#") else "unsubscribe", _payload(item)
            )
            for item in items
            if item["sk"]["S"] != HEAD
        ]
        return _record(head, {}), sorted(entries, key=lambda entry: entry.version)

    def touch(self, subscriber: Subscriber, expected_count: int) -> bool:
        """After a replay: claim that nothing was recorded meanwhile (False if something was)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition(subscriber)}, "sk": {"S": HEAD}},
                UpdateExpression="SET #n = :next",
                ConditionExpression="#n = :seen",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={
                    ":next": {"N": str(expected_count + 1)},
                    ":seen": {"N": str(expected_count)},
                },
            )
        except Exception as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise LedgerError(f"ledger update failed ({_code(error)})") from None
        return True

    def _actions(
        self, subscriber: Subscriber, items: Sequence[StatusUpdate | UnsubscribeAll], seen: SubscriberRecord
    ) -> list[dict[str, Any]]:
        pk = partition(subscriber)
        expires = {"N": str(int(self._clock()) + RETENTION_S)}
        newest = max([seen.newest, *(version(item) for item in items)])
        values: dict[str, Any] = {
            ":next": {"N": str(seen.count + 1)},
            ":newest": {"S": newest},
            ":ttl": expires,
        }
        names = {"#n": "n", "#newest": "newest", "#expires": "expires_at"}
        assignments = ["#n = :next", "#newest = :newest", "#expires = :ttl"]
        puts: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if isinstance(item, UnsubscribeAll):
                scope = opt_out_scope(item.business_unit_id)
                values[f":u{index}"] = {"S": version(item)}
                assignments.append(f"u_{scope} = :u{index}")
                sort_key = f"U#{scope}"
                payload: dict[str, Any] = {
                    "subscriberIdString": item.email,
                    "channel": item.channel,
                    "businessUnitId": item.business_unit_id,
                }
            else:
                sort_key = f"S#{item.subscription_id}"
                payload = item.to_input()
            puts.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": pk},
                            "sk": {"S": sort_key},
                            "v": {"S": version(item)},
                            "input": {"S": json.dumps(payload, separators=(",", ":"))},
                            "expires_at": expires,
                        },
                    }
                }
            )
        head: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": pk}, "sk": {"S": HEAD}},
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if seen.count == 0:
            head["ConditionExpression"] = "attribute_not_exists(#n)"
        else:
            head["ConditionExpression"] = "#n = :seen"
            values[":seen"] = {"N": str(seen.count)}
        return [{"Update": head}, *puts]

    def _transact(self, batch: list[tuple[Subscriber, list[dict[str, Any]]]]) -> set[Subscriber]:
        """One transaction per batch; a subscriber whose HEAD moved is dropped and the rest retried."""
        conflicts: set[Subscriber] = set()
        pending = list(batch)
        for _ in range(TRANSACTION_ATTEMPTS):
            if not pending:
                return conflicts
            actions = [action for _, group in pending for action in group]
            try:
                self._db.transact_write_items(TransactItems=actions)
                return conflicts
            except Exception as error:
                if _code(error) != "TransactionCanceledException":
                    raise LedgerError(f"ledger write failed ({_code(error)})") from None
                reasons = getattr(error, "response", {}).get("CancellationReasons", [])
            index = 0
            kept: list[tuple[Subscriber, list[dict[str, Any]]]] = []
            for subscriber, group in pending:
                codes = {str(reason.get("Code")) for reason in reasons[index : index + len(group)]}
                index += len(group)
                if "ConditionalCheckFailed" in codes:
                    conflicts.add(subscriber)
                else:
                    kept.append((subscriber, group))
            pending = kept
        raise LedgerError("ledger write kept conflicting")

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        request = {
            self._table: {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                "ConsistentRead": True,
            }
        }
        found: list[dict[str, Any]] = []
        for _ in range(5):
            answer = self._call("batch_get_item", RequestItems=request)
            found.extend(answer.get("Responses", {}).get(self._table, []))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise LedgerError("ledger read left keys unprocessed")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._db, operation)(**kwargs)
        except Exception as error:
            raise LedgerError(f"ledger {operation} failed ({_code(error)})") from None
        return answer


def _record(head: Mapping[str, Any] | None, writes: dict[int, str]) -> SubscriberRecord:
    if head is None:
        return SubscriberRecord(writes=writes)
    opt_outs = {
        name[2:]: value["S"] for name, value in head.items() if name.startswith("u_") and "S" in value
    }
    return SubscriberRecord(
        count=int(head.get("n", {}).get("N", "0")),
        newest=str(head.get("newest", {}).get("S", "")),
        writes=writes,
        opt_outs=opt_outs,
    )


def _payload(item: Mapping[str, Any]) -> dict[str, Any]:
    value = json.loads(item["input"]["S"])
    return value if isinstance(value, dict) else {}


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__
