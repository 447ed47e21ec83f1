"""Read HubSpot's current state of the batch's contacts, once per invocation and before any write
(README: Outcomes, HubSpot-side changes): a read after the function's own writes would see their
fresh timestamps as newer than the updates that caused them.

Two batch calls per 100 contacts (statuses, wide opt-outs), the chunks in parallel; per contact in
per-contact mode (``hubspot.HubSpotClient.read``). A read that fails makes its contacts' updates come
back (retryable), never "assume nothing newer", and so does one contact's failed read within an
answer (``outcomes.unread_contacts``); a contact HubSpot does not know (absent from the results, or
named by a permanent error) has no newer state.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from status_writer.answers import CallResult
from status_writer.chunk import chunk, halves
from status_writer.entries import Contact, Update
from status_writer.freshness import Held, Known, checked_keys, statuses_of, wide_of
from status_writer.model import Failure, FailureCategory
from status_writer.observability import logger
from status_writer.outcomes import unread_contacts
from status_writer.runtime import Invocation

READ_ATTEMPTS = 3
TRANSIENT = frozenset(
    {FailureCategory.UNKNOWN_OUTCOME, FailureCategory.NETWORK, FailureCategory.HUBSPOT_UNAVAILABLE}
)
_NOT_COMPLETE = Failure(
    FailureCategory.UNKNOWN_OUTCOME, "HubSpot's read answer is not COMPLETE", permanent=False
)
_NO_TIME = Failure(FailureCategory.TIME_BUDGET, "not enough time left for another HubSpot call", False)


@dataclass
class Reads:
    """What HubSpot holds per contact (an absent contact: nothing), and the contacts it could not be
    read for, with why."""

    held: dict[Contact, Held] = field(default_factory=dict)
    failed: dict[Contact, Failure] = field(default_factory=dict)


def read_known(
    invocation: Invocation, updates: Sequence[Update], doubts: Sequence[Update]
) -> tuple[Known, list[Update], list[Update], dict[str, Failure]]:
    """HubSpot's state of the contacts the freshness check covers, with the updates and doubts of the
    contacts it was read for; the updates of the others come back (their failure, by message id)."""
    mode = invocation.runtime.settings.freshness_check
    by_contact: dict[Contact, list[Update]] = {}
    for update in updates:
        by_contact.setdefault(update.subscriber, []).append(update)
    keys = (
        {contact: checked_keys(mode, mine) for contact, mine in by_contact.items()} if mode != "off" else {}
    )
    wanted = {contact for contact, checked in keys.items() if checked is None or checked}
    if not wanted:
        return Known(), list(updates), list(doubts), {}
    reads = read_current(invocation, wanted)
    unread = {
        u.message.message_id: reads.failed[u.subscriber] for u in updates if u.subscriber in reads.failed
    }
    doubted: dict[Contact, list[Update]] = {}
    for update in doubts:
        doubted.setdefault(update.subscriber, []).append(update)
    runtime, keys_read = invocation.runtime, {c: keys[c] for c in reads.held}
    read_us = time.time_ns() // 1000 if runtime.ledger is not None else 0  # freshness: Entry.unsure
    known = Known(reads.held, keys_read, doubted, runtime.hubspot.own_sources, read_us)
    kept = [u for u in updates if u.subscriber not in reads.failed]
    return known, kept, [u for u in doubts if u.subscriber not in reads.failed], unread


def read_current(invocation: Invocation, contacts: Collection[Contact]) -> Reads:
    """HubSpot's statuses and wide opt-outs of ``contacts``, by channel, at most a batch per call."""
    reads = Reads()
    by_channel: dict[str, list[str]] = {}
    for email, channel in sorted(contacts):
        by_channel.setdefault(channel, []).append(email)
    size = invocation.runtime.settings.batch_limit
    executor = invocation.runtime.executor
    futures: list[tuple[str, list[str], Future[Reads]]] = [
        (channel, list(part), executor.submit(_read_chunk, invocation, list(part), channel))
        for channel, emails in by_channel.items()
        for part in chunk(emails, size)
    ]
    for channel, emails, future in futures:
        try:
            part = future.result()
        except Exception:
            logger.exception("unexpected error while reading HubSpot's state; its records will be retried")
            part = Reads(failed=dict.fromkeys(((e, channel) for e in emails), _READ_BUG))
        reads.held.update(part.held)
        reads.failed.update(part.failed)
    return reads


def _read_chunk(invocation: Invocation, emails: list[str], channel: str) -> Reads:
    """Both reads of one chunk; a whole-request 400 is split until the contact it names stands alone
    (then HubSpot does not know that contact: nothing newer)."""
    now_us = time.time_ns() // 1000
    statuses = _read(invocation, emails, channel, wide=False)
    wide = _read(invocation, emails, channel, wide=True) if statuses.failure is None else statuses
    failure = statuses.failure or wide.failure
    if failure is not None:
        return Reads(failed=dict.fromkeys(((e, channel) for e in emails), _read_failed(failure)))
    if (statuses.rejected is not None or wide.rejected is not None) and len(emails) > 1:
        left, right = halves(emails)
        first, second = (
            _read_chunk(invocation, list(left), channel),
            _read_chunk(invocation, list(right), channel),
        )
        return Reads({**first.held, **second.held}, {**first.failed, **second.failed})
    # A contact whose read failed inside a COMPLETE answer (per contact, its GET refused) is not read:
    # taken as "nothing newer", its write would overwrite a change made in HubSpot.
    unread = {**unread_contacts(wide.body, emails), **unread_contacts(statuses.body, emails)}
    reads = Reads(failed={(email, channel): _read_failed(failure) for email, failure in unread.items()})
    for found in (statuses_of(statuses.body, channel, now_us), wide_of(wide.body, channel, now_us)):
        for email, held in found.items():
            if email not in unread:
                reads.held.setdefault((email, channel), {}).update(held)
    return reads


def _read(invocation: Invocation, emails: list[str], channel: str, *, wide: bool) -> CallResult:
    """One read, tried again (up to ``READ_ATTEMPTS``) after an answer that is not HubSpot's or a
    transient failure: a read changes nothing, so unlike a write it is safe to repeat at once. An
    answer whose ``status`` is not ``COMPLETE`` tells nothing of HubSpot's state."""
    answer = CallResult(failure=_NO_TIME)
    for _ in range(READ_ATTEMPTS):
        if not invocation.call.deadline.allows_call():
            break
        answer = invocation.runtime.hubspot.read(emails, channel, wide=wide, call=invocation.call)
        if answer.body is not None and not _complete(answer.body):
            answer = CallResult(failure=_NOT_COMPLETE)
        elif answer.body is not None:
            invocation.runtime.hubspot.waits.read_answered()  # waits.py: a slot spent on the reads
        if answer.failure is None or answer.failure.category not in TRANSIENT:
            break
    return answer


def _complete(body: Any) -> bool:
    return isinstance(body, dict) and body.get("status") == "COMPLETE"


def _read_failed(failure: Failure) -> Failure:
    """The read's failure for each of its contacts' updates: always retryable (nothing was written)."""
    detail = f"HubSpot's current state could not be read: {failure.detail}"
    return Failure(failure.category, detail[:300], permanent=False, retry_after_s=failure.retry_after_s)


_READ_BUG = Failure(
    FailureCategory.INTERNAL_ERROR, "unexpected error while reading HubSpot's state", permanent=False
)
