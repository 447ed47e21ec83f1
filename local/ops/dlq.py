"""Inspect the dead-letter queue and replay what would now pass (README "Deploying").

    python -m local.ops.dlq --stack NAME list
    python -m local.ops.dlq --dlq-url URL show MESSAGE_ID
    python -m local.ops.dlq --stack NAME export --output dead-letters.jsonl
    python -m local.ops.dlq --stack NAME replay            # dry run: the table only
    python -m local.ops.dlq --stack NAME replay --yes      # send what would pass, delete only what was sent

Works with the user's AWS credentials against a deployed stack, or against any endpoint that
AWS_ENDPOINT_URL* names (a local moto stack). Reading never consumes: messages are hidden while read
and made visible again. Emails are masked as in the function's logs unless --show-emails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from local.ops import letters as dl
from local.ops import queues

READ_HOLD_S = 30  # list, show, export: released at once when done
REPLAY_HOLD_S = 300  # replay: long enough to send and delete before anything reappears


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m local.ops.dlq", description=__doc__.split("\n\n")[0])
    where = top.add_argument_group("which queues")
    where.add_argument("--stack", help="CloudFormation stack: queues from its outputs")
    where.add_argument("--dlq-url", help="the dead-letter queue's URL (instead of --stack)")
    where.add_argument("--queue-url", help="the main queue's URL, where replay sends (instead of --stack)")
    where.add_argument("--region", help="AWS region (default: your AWS configuration)")
    top.add_argument("--max", type=int, default=1000, metavar="N", help="read at most N messages (1000)")
    top.add_argument("--show-emails", action="store_true", help="print addresses unmasked")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="counts by error_category, oldest, a sample")
    show = commands.add_parser("show", help="one message: attributes and body")
    show.add_argument("message_id", metavar="ID", help="its MessageId in the DLQ or its original_message_id")
    export = commands.add_parser("export", help="every message as JSON lines")
    export.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    replay = commands.add_parser("replay", help="re-validate, show what would pass, send it with --yes")
    mode = replay.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="only the table (the default)")
    mode.add_argument("--yes", action="store_true", help="send what would pass, then delete it from the DLQ")
    replay.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="CATEGORY",
        help=f"replay this category too although it needs a fix first ({', '.join(sorted(dl.NEEDS_A_FIX))}): "
        "after fixing the data in HubSpot",
    )
    return top


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; 0 done, 1 a queue could not be used or a send failed, 2 bad arguments."""
    out = out or sys.stdout
    args = parser().parse_args(argv)
    if args.max < 1:
        parser().error("--max must be at least 1")
    try:
        return _run(args, out)
    except (BotoCoreError, ClientError) as error:  # no credentials, no such queue, access denied
        print(f"error: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, out: TextIO) -> int:
    sqs, cloudformation = queues.clients(args.region)
    try:
        found = queues.resolve(cloudformation, args.stack, args.dlq_url, args.queue_url)
    except queues.QueueNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command == "replay":
        return _replay(sqs, found, args, out)
    raw = queues.read_all(sqs, found.dlq_url, READ_HOLD_S, args.max)
    try:
        letters = [dl.from_sqs(message) for message in raw]
        if args.command == "list":
            return _list(letters, found, args.show_emails, out)
        if args.command == "show":
            return _show(letters, args.message_id, args.show_emails, out)
        return _export(letters, args.output, args.show_emails, out)
    finally:
        queues.release(sqs, found.dlq_url, [message["ReceiptHandle"] for message in raw])


def _list(letters: list[dl.DeadLetter], found: queues.Queues, show_emails: bool, out: TextIO) -> int:
    print(f"{len(letters)} message(s) in {found.dlq_url}", file=out)
    if not letters:
        return 0
    print(f"  {'error_category':<26} {'count':>6}  {'oldest':<25} sample", file=out)
    for row in dl.by_category(letters):
        sample = dl.shown(row.sample.reason, show_emails)
        print(f"  {row.category:<26} {row.count:>6}  {dl.iso(row.oldest_ms):<25} {sample[:100]}", file=out)
        print(f"  {'':<26} {'':>6}  {'':<25} {dl.shown(row.sample.body, show_emails)[:100]}", file=out)
    return 0


def _show(letters: list[dl.DeadLetter], wanted: str, show_emails: bool, out: TextIO) -> int:
    for letter in letters:
        if wanted in (letter.message_id, letter.original_message_id):
            print(f"message_id           {letter.message_id}", file=out)
            print(f"original_message_id  {letter.original_message_id}", file=out)
            print(f"error_category       {letter.category}", file=out)
            print(f"error_message        {dl.shown(letter.reason, show_emails)}", file=out)
            print(f"sent_at              {letter.sent_at}", file=out)
            print(f"group_id             {letter.group_id or '-'}", file=out)
            for name, value in sorted(letter.attributes.items()):
                print(f"attribute {name:<10} {value.get('StringValue', '(binary)')}", file=out)
            print(f"body                 {dl.shown(letter.body, show_emails)}", file=out)
            print(
                f"replay               {dl.triage(letter).verdict.value}: {dl.triage(letter).why}", file=out
            )
            return 0
    print(f"error: no message {wanted!r} among the {len(letters)} read", file=sys.stderr)
    return 1


def _export(letters: list[dl.DeadLetter], path: str | None, show_emails: bool, out: TextIO) -> int:
    lines = "".join(dl.export_line(letter, show_emails) + "\n" for letter in letters)
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(lines)
        print(f"{len(letters)} message(s) written to {path}", file=sys.stderr)
    else:
        out.write(lines)
    return 0


def _replay(sqs: Any, found: queues.Queues, args: argparse.Namespace, out: TextIO) -> int:
    if args.yes and not found.queue_url:
        print("error: replay --yes needs the main queue: --stack NAME or --queue-url URL", file=sys.stderr)
        return 1
    raw = queues.read_all(sqs, found.dlq_url, REPLAY_HOLD_S, args.max)
    letters = [dl.from_sqs(message) for message in raw]
    results = sorted(
        (dl.triage(letter, frozenset(args.include)) for letter in letters),
        key=lambda result: result.letter.sent_timestamp_ms,
    )
    keep = [result.letter.receipt_handle for result in results if result.verdict is not dl.Verdict.WOULD_PASS]
    try:
        _print_triage(results, args.show_emails, out)
        if not args.yes:
            print("dry run: nothing sent (replay --yes sends the 'would pass' ones)", file=out)
            return 0
        passing = [result.letter for result in results if result.verdict is dl.Verdict.WOULD_PASS]
        assert found.queue_url is not None
        fifo = found.queue_url.endswith(".fifo")
        entries = [dl.replay_entry(index, letter, fifo) for index, letter in enumerate(passing)]
        sent, failed = queues.send(sqs, found.queue_url, entries)
        by_id = {entry["Id"]: letter for entry, letter in zip(entries, passing, strict=True)}
        deleted = queues.delete(sqs, found.dlq_url, [by_id[i].receipt_handle for i in sorted(sent)])
        keep += [by_id[i].receipt_handle for i in failed]
        for entry_id, why in sorted(failed.items()):
            print(f"not sent {by_id[entry_id].message_id}: {why} (its DLQ copy stays)", file=out)
        print(
            f"sent {len(sent)} to {found.queue_url}; deleted {deleted} from the DLQ; "
            f"{len(keep)} left in the DLQ",
            file=out,
        )
        return 1 if failed or deleted < len(sent) else 0
    finally:
        queues.release(sqs, found.dlq_url, keep)


def _print_triage(results: list[dl.Triage], show_emails: bool, out: TextIO) -> None:
    print(f"  {'message_id':<38} {'error_category':<24} {'verdict':<18} why", file=out)
    for result in results:
        letter = result.letter
        why = dl.shown(result.why, show_emails)[:110]
        print(f"  {letter.message_id:<38} {letter.category:<24} {result.verdict.value:<18} {why}", file=out)
    print(
        f"{len(results)} read: {dl.count(results, dl.Verdict.WOULD_PASS)} would pass, "
        f"{dl.count(results, dl.Verdict.STILL_INVALID)} still invalid, "
        f"{dl.count(results, dl.Verdict.NEEDS_A_FIX)} need a fix first",
        file=out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
