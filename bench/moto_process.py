"""moto (Secrets Manager, SQS, DynamoDB) in a process of its own on a free loopback port, so its CPU work
does not share a GIL with the emulator. Prints ``listening on http://127.0.0.1:PORT``, then serves until
its stdin closes (so it also ends if the bench dies).

    python -m bench.moto_process

One change to moto, for speed only: its TransactWriteItems deep-copies the whole table once per action
(to roll back on failure), so a 100-action transaction takes seconds once the table holds thousands of
items, far beyond the function's 2 s AWS read timeout, where DynamoDB answers in milliseconds. Here the
table copy is skipped and only the items the transaction touches are snapshotted and restored, with the
same all-or-nothing outcome.
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
from typing import Any

_IN_TRANSACTION = threading.local()


class _CopyWithoutTables:
    """moto's ``copy`` module, except that a Table is not copied inside a transaction."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, *args: Any) -> Any:
        if getattr(_IN_TRANSACTION, "active", False) and isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _patch_transactions() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items
    models.copy = _CopyWithoutTables(Table)  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshot = []
        for action in transact_items:
            _, operation = next(iter(action.items()))
            name = operation.get("TableName")
            if name not in self.tables:
                continue
            table = self.tables[name]
            if "Key" in operation:
                key = operation["Key"]
            else:
                item = operation.get("Item", {})
                key = {table.hash_key_attr: item.get(table.hash_key_attr)}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = item.get(table.range_key_attr)
            try:
                current = self.get_item(name, key)
            except Exception:  # noqa: S112 - a malformed key: moto's own checks report it below
                continue
            snapshot.append(
                (name, key, None if current is None else copy.deepcopy(current.to_json()["Attributes"]))
            )
        _IN_TRANSACTION.active = True
        try:
            original(self, transact_items)
        except Exception:
            for name, key, attributes in reversed(snapshot):
                if attributes is None:
                    if self.get_item(name, key) is not None:
                        self.delete_item(name, key)
                else:
                    self.put_item(name, attributes)
            raise
        finally:
            _IN_TRANSACTION.active = False

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> int:
    from moto.server import ThreadedMotoServer

    _patch_transactions()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
