"""The one moto launcher: moto server (SQS, Secrets Manager, DynamoDB) in its own process on a free
loopback port, used by `make run`, `make chaos`, `make bench` and the tests alike.

Its own process so moto's CPU work does not share a GIL with the poller. The child serves until its
stdin closes, so it also stops if the parent dies without cleaning up.

Parent side: ``with MotoServer() as moto: moto.endpoint``. Child side: ``python -m local.aws.moto``
prints ``listening on http://127.0.0.1:PORT`` and serves until stdin reaches EOF.

The patches (all applied unless ``--pristine``; each keeps what moto answers and fixes a cost or a race
that real AWS does not have; each has a test in tests/local/test_local_moto_server.py):

1. ``speed_up_sqs``: moto's SQS clock and retention check without their O(queue length) overhead.
2. ``make_sqs_thread_safe``: receives and deletes hold the queue's lock, so no message is delivered
   twice at once nor revived by a concurrent delete.
3. ``speed_up_dynamodb_transactions``: TransactWriteItems backs up only the items it touches, not the
   whole table once per action, with the same all-or-nothing outcome.
4. ``make_dynamodb_thread_safe``: conditional writes and transactions are atomic, as DynamoDB's are.
5. ``keep_connections_alive``: a client's HTTP/1.1 connection serves its next request too, as AWS
   endpoints' do; werkzeug's server closed every one, so each call paid a TCP connect.

With ``--visibility-log PATH`` (an observation, not a patch of what moto answers) every visibility
change is also appended to PATH: SQS has no call that reads when a postponed message comes back, and
`make run`'s progress line names what it waits for (``record_visibility_changes``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "listening on "


class MotoServer:
    """A moto server subprocess bound to 127.0.0.1 on a free port; stop() (or leaving the with block)
    ends it and everything it started."""

    def __init__(
        self,
        log_file: Path | None = None,
        start_timeout_s: float = 30.0,
        pristine: bool = False,
        visibility_log: Path | None = None,
    ) -> None:
        self.log_file = log_file
        self.pristine = pristine
        self.visibility_log = visibility_log
        self.start_timeout_s = start_timeout_s
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self._process.pid if self._process else 0

    def start(self) -> str:
        """Start the server and return its endpoint URL (http://127.0.0.1:PORT)."""
        self._log = self.log_file.open("ab") if self.log_file else None
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local.aws.moto", "--host", "127.0.0.1", "--port", "0"]
            + (["--pristine"] if self.pristine else [])
            + (["--visibility-log", str(self.visibility_log)] if self.visibility_log else []),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log if self._log else subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to the parent only; it stops us in order
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.2)
            if ready:
                line = self._process.stdout.readline()
                break
            if self._process.poll() is not None:
                break
        text = line.decode().strip()
        if not text.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"moto server did not start (got {text!r})")
        self.endpoint = text[len(READY_PREFIX) :]
        return self.endpoint

    def stop(self, grace_s: float = 5.0) -> None:
        """Close its stdin (it shuts down), then SIGTERM, then SIGKILL its process group."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                if process.stdin:
                    process.stdin.close()
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, sig)
                    try:
                        process.wait(timeout=grace_s)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            if process.stdout:
                process.stdout.close()
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def record_visibility_changes(path: Path) -> None:
    """Append one JSON line per visibility change to `path`: the queue, the messageId, when the message
    becomes visible again and when that was set (epoch seconds). Answers are unchanged."""
    import json
    import threading
    import time

    from moto.sqs import models

    lock = threading.Lock()
    log = path.open("a", encoding="utf-8")
    original = models.SQSBackend.change_message_visibility

    def change_message_visibility(
        self: models.SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        original(self, queue_name, receipt_handle, visibility_timeout)
        for message in self.get_queue(queue_name)._messages:
            if message.had_receipt_handle(receipt_handle):
                line = {
                    "queue": queue_name,
                    "message_id": message.id,
                    "visible_at": message.visible_at / 1000.0,
                    "set_at": time.time(),
                }
                with lock:
                    log.write(json.dumps(line) + "\n")
                    log.flush()
                return

    models.SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]


def speed_up_sqs() -> None:
    """Take two O(queue length) costs out of moto's SQS; what it answers is unchanged.

    1. Its clock: ``unix_time()``/``unix_time_millis()`` go through naive-datetime arithmetic (~5 us a
       call), and every send, receive and attribute read calls them once per queued message to count
       visible/in-flight/delayed ones. The module gets ``time.time()`` instead: the same epoch seconds.
    2. Its retention check: for every message received it reads one attribute through
       get_queue_attributes, which builds every attribute of the queue three times over (each build
       scanning all messages). The queue's retention period is read directly instead.
    Measured: ReceiveMessage + SendMessageBatch with ~200 queued, ~60% less CPU per message.
    """
    import time

    from moto.sqs import models

    def unix_time_millis() -> float:
        return time.time() * 1000.0

    models.unix_time = time.time  # type: ignore[attr-defined,assignment]
    models.unix_time_millis = unix_time_millis  # type: ignore[attr-defined,assignment]

    def is_message_valid_based_on_retention_period(
        self: models.SQSBackend, queue_name: str, message: models.Message
    ) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]

    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


def make_sqs_thread_safe() -> None:
    """Serialise moto's changes to a queue's message list, as SQS itself never loses or revives one.

    moto's server handles requests in threads, and two of its queue operations race: DeleteMessage
    rebuilds the message list from a snapshot and rebinds it, so two concurrent deletes can revive a
    message the other deleted (it reappears in flight and is delivered again after the visibility
    timeout) and a send appended meanwhile can vanish; two concurrent receives can both hand out the
    same message. Every receive and delete now holds the queue's own lock (the condition that sends
    already hold); a long poll still releases it while it waits.
    """
    from moto.sqs import models

    original_receive = models.SQSBackend.receive_message
    original_delete = models.Queue.delete_message

    def receive_message(self: models.SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with self.get_queue(queue_name)._messages_lock:
            return original_receive(self, queue_name, *args, **kwargs)

    def delete_message(self: models.Queue, receipt_handle: str) -> None:
        with self._messages_lock:
            original_delete(self, receipt_handle)

    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    models.Queue.delete_message = delete_message  # type: ignore[method-assign]


def keep_connections_alive() -> None:
    """Keep a client's connection open for its next request, as AWS endpoints do.

    werkzeug's development server answers every request with ``Connection: close`` and then reads
    whatever else the client sent, to discard a body the application left unread. So every call of
    the function's clients opened a new TCP connection, which a deployment does not: ~0.35 ms of the
    caller's CPU per DynamoDB call here, 20 calls per 1,000 ledger-on records (bench
    ``cpu.with_ledger``). Each request's body is now read whole before moto sees it, so nothing is left
    to discard, werkzeug's discarding read finds nothing (it would take the next request), and the
    connection stays open. A chunked request body, or a length that is not a number, still closes its
    connection, as before.
    """
    import io
    import socket

    from moto.moto_server import threaded_moto_server

    class _Read:
        """The connection's stream once the request's body is taken: werkzeug's discard reads nothing."""

        def read(self, size: int = -1) -> bytes:
            return b""

    class KeepAliveRequestHandler(threaded_moto_server.MotoRequestHandler):  # type: ignore[misc,name-defined]
        reusable = False
        rfile: Any  # the connection's stream, or _Read while a request is served

        def setup(self) -> None:
            super().setup()
            # An answer is written in pieces (head, then body): on a kept connection Nagle's algorithm
            # held the body until the client's delayed ACK, 40 ms later; a closing one flushed it.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_wsgi(self) -> None:
            stream = self.rfile
            try:
                super().run_wsgi()
            finally:
                self.rfile = stream  # the next request line is read from the connection itself

        def make_environ(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().make_environ()
            length = str(environ.get("CONTENT_LENGTH") or "0")
            self.reusable = not environ.get("wsgi.input_terminated") and length.isdigit()
            if self.reusable:
                environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length)))
                self.rfile = _Read()
            return environ

        def send_header(self, keyword: str, value: str) -> None:
            if self.reusable and keyword.lower() == "connection" and value.lower() == "close":
                return
            super().send_header(keyword, value)

    threaded_moto_server.MotoRequestHandler = KeepAliveRequestHandler  # type: ignore[attr-defined]


def make_dynamodb_thread_safe() -> None:
    """Make moto's conditional writes atomic, as DynamoDB's are.

    moto's server handles requests in threads and checks a write's condition, then writes, with no
    lock: two concurrent conditional writes (or transactions) on one item can both pass their check,
    which defeats optimistic concurrency such as the function's ordering ledger. Every writing call
    now holds one lock per backend (re-entrant: a transaction calls the single-item writes).
    """
    import threading

    from moto.dynamodb import models

    lock = threading.RLock()

    def serialised(method: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(self, *args, **kwargs)

        call.__name__ = method.__name__
        call.__doc__ = method.__doc__
        return call

    backend = models.DynamoDBBackend
    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
        if hasattr(backend, name):
            setattr(backend, name, serialised(getattr(backend, name)))


class _TableKeepingCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models: deep copies of whole tables (its
    transaction backup) return the table itself; everything else is copied as before."""

    def __init__(self, real: Any, table_type: type) -> None:
        self._real = real
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return self._real.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def speed_up_dynamodb_transactions() -> None:
    """Make moto's TransactWriteItems O(items in the transaction) instead of O(items in the table).

    moto 5.2 backs up a table before a transaction by deep-copying the whole table once per item of
    the transaction (2.4 s for 25 puts into a 2,000-item table), which the handler's 2 s AWS read
    timeout does not survive. The backup is replaced by copies of just the items the transaction
    touches, restored the same way if it is cancelled: the same all-or-nothing outcome.
    """
    import copy

    from moto.dynamodb import models

    models.copy = _TableKeepingCopy(copy, models.Table)  # type: ignore[attr-defined,assignment]
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: models.DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = [entry for action in transact_items if (entry := _snapshot(self, action)) is not None]
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(saved):
                _restore(table, hash_value, range_value, item)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _snapshot(backend: Any, action: dict[str, Any]) -> tuple[Any, Any, Any, Any] | None:
    """(table, hash key, range key, a copy of the item or None) for one transaction action, or None
    when the action names no table or no full key (moto rejects those before changing anything)."""
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType

    op: Any = next(iter(action.values()), {})
    if not isinstance(op, dict):
        return None
    table = backend.tables.get(str(op.get("TableName")))
    key = op.get("Key") or op.get("Item") or {}
    if table is None or table.hash_key_attr not in key:
        return None
    hash_value = DynamoType(key[table.hash_key_attr])
    range_raw = key.get(table.range_key_attr) if table.range_key_attr else None
    range_value = DynamoType(range_raw) if range_raw is not None else None
    if table.has_range_key and range_value is None:
        return None
    return table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))


def _restore(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Put one item back as it was before a cancelled transaction (absent if it did not exist)."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    group = table.items[hash_value]
    if item is None:
        group.pop(range_value, None)
        if not group:
            table.items.pop(hash_value, None)
    else:
        group[range_value] = item


def main(argv: list[str] | None = None) -> int:
    """Serve moto on the given loopback address until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pristine", action="store_true", help="run moto as released (no speed-ups)")
    parser.add_argument("--visibility-log", type=Path, help="append every visibility change here")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("moto serves loopback only")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from moto.server import ThreadedMotoServer

    if not args.pristine:
        speed_up_sqs()
        make_sqs_thread_safe()
        speed_up_dynamodb_transactions()
        make_dynamodb_thread_safe()
        keep_connections_alive()
    if args.visibility_log:
        record_visibility_changes(args.visibility_log)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"{READY_PREFIX}http://{host}:{port}", flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
