"""Map HubSpot's answers back to inputs. Pure: no I/O.

For 200 and 207 alike, an input is applied only if a result with its (subscriberIdString,
subscriptionId) came back; such a confirming result wins over any error that also seems to name the
input (an error about the contact's other subscription, or naming only a subscription id, says nothing
about a write HubSpot shows applied). ``errors[]`` are matched to the other inputs through any
``context`` value (the keys HubSpot uses are undocumented, so every value is searched). Whatever stays
unmatched is a retryable failure, never silently a success. A ``status`` other than ``COMPLETE`` means nothing is known to be
applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from status_writer.answers import MAX_DETAIL
from status_writer.fields import INT64_MAX
from status_writer.freshness import stamp_of
from status_writer.model import APPLIED, Failure, FailureCategory, ItemResult, StatusUpdate, UnsubscribeAll

# Per-item error categories that say "this will never work as sent". Anything else is retried.
PERMANENT_ITEM_CATEGORIES = frozenset(
    {"VALIDATION_ERROR", "OBJECT_NOT_FOUND", "INVALID_EMAIL", "INVALID_PARAMS", "BAD_REQUEST", "NOT_FOUND"}
)
UNKNOWN_OUTCOME = Failure(
    FailureCategory.UNKNOWN_OUTCOME, "HubSpot reported no result and no error for this input", permanent=False
)
MAX_ID_DIGITS = 19  # len(str(INT64_MAX))


def map_batch_response(inputs: Sequence[StatusUpdate], body: Any) -> list[ItemResult]:
    """One ItemResult per input, in input order, from a 200/207 batch/write body."""
    if not isinstance(body, Mapping) or body.get("status") != "COMPLETE":
        return [_incomplete(body)] * len(inputs)

    confirmed = {key: (stamp, source) for key, stamp, source in _result_keys(body.get("results"))}
    failures = _match_errors(inputs, body.get("errors"))
    return [
        _applied(confirmed[key][0], source=confirmed[key][1])
        if (key := (update.email.lower(), update.subscription_id)) in confirmed
        else ItemResult(failures.get(index, UNKNOWN_OUTCOME))
        for index, update in enumerate(inputs)
    ]


def map_unsubscribe_response(inputs: Sequence[UnsubscribeAll], body: Any) -> list[ItemResult]:
    """One ItemResult per input from a 200/207 batch/unsubscribe-all body (asked for with verbose=true):
    applied only if a result names the input's email; errors are matched by the emails they name."""
    if not isinstance(body, Mapping) or body.get("status") != "COMPLETE":
        return [_incomplete(body)] * len(inputs)
    results = body.get("results")
    confirmed: dict[str, list[int]] = {}
    for result in results if isinstance(results, list) else []:
        if isinstance(result, Mapping) and isinstance(result.get("subscriberIdString"), str):
            stamps = confirmed.setdefault(result["subscriberIdString"].lower(), [])
            statuses = result.get("statuses")
            for status in statuses if isinstance(statuses, list) else []:
                mine = isinstance(status, Mapping) and _changed(status)
                stamp = stamp_of(status.get("timestamp")) if mine else None
                stamps.extend(() if stamp is None else (stamp,))
    failures: dict[str, Failure] = {}
    errors = body.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, Mapping):
            continue
        failure = item_failure(error)
        for value in _context_values(error):
            email = value.lower()
            if failure.permanent or email not in failures:
                failures[email] = failure
    return [
        _applied(*confirmed[request.email.lower()])
        if request.email.lower() in confirmed
        else ItemResult(failures.get(request.email.lower(), UNKNOWN_OUTCOME))
        for request in inputs
    ]


def unread_contacts(body: Any, emails: Sequence[str]) -> dict[str, Failure]:
    """The contacts a COMPLETE read answer did not read, with why: each one an ``errors[]`` entry names
    with a retryable category (per-contact mode answers a refused ``GET`` so), and every contact
    without a result when such an entry names none of them. A contact named by a permanent error
    (HubSpot does not know it), or simply absent, has no newer state (README: Outcomes)."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list):
        return {}
    asked = {email.lower() for email in emails}
    unread: dict[str, Failure] = {}
    nameless: Failure | None = None
    for error in errors:
        if not isinstance(error, Mapping) or (failure := item_failure(error)).permanent:
            continue
        named = {value.lower() for value in _context_values(error)} & asked
        for email in sorted(named):
            unread.setdefault(email, failure)
        nameless = nameless or (None if named else failure)
    if nameless is not None:
        results = body.get("results")
        present = {
            result["subscriberIdString"].lower()
            for result in (results if isinstance(results, list) else [])
            if isinstance(result, Mapping) and isinstance(result.get("subscriberIdString"), str)
        }
        for email in sorted(asked - present):
            unread.setdefault(email, nameless)
    return unread


def _applied(*stamps: int | None, source: str | None = None) -> ItemResult:
    """An applied input, with the distinct timestamps HubSpot gave what it set (the ledger keeps them)
    and the source it names the write by."""
    known = sorted({stamp for stamp in stamps if stamp is not None})
    return ItemResult(stamps=tuple(known), source=source) if known or source else APPLIED


def _incomplete(body: Any) -> ItemResult:
    """What every input of an answer that is not a COMPLETE batch body gets: not known to be applied."""
    if not isinstance(body, Mapping):
        return _unknown("HubSpot answered with a body that is not a JSON object")
    status = str(body.get("status"))[:40]
    return _unknown(f"HubSpot batch status is {status}, not COMPLETE: not known to be applied")


def _result_keys(results: Any) -> Iterator[tuple[tuple[str, int], int | None, str | None]]:
    """Each confirmed (email, subscription) with the timestamp HubSpot gave it (None: none readable)."""
    if not isinstance(results, list):
        return
    for result in results:
        if not isinstance(result, Mapping):
            continue
        email, subscription = result.get("subscriberIdString"), result.get("subscriptionId")
        if not isinstance(email, str):
            continue
        if isinstance(subscription, str):
            subscription = _subscription_number(subscription.strip())
        if isinstance(subscription, int) and not isinstance(subscription, bool):
            if not _changed(result):
                yield (email.lower(), subscription), None, None
                continue
            source = result.get("source")
            yield (
                (email.lower(), subscription),
                stamp_of(result.get("timestamp")),
                (source[:200] if isinstance(source, str) else None),
            )


def _changed(status: Mapping[str, Any]) -> bool:
    """Whether the call set this status. ``NO_STATUS_CHANGE``: HubSpot already held it and kept the
    timestamp and source of whoever set it, which are not the function's own (README: Outcomes,
    HubSpot-side changes)."""
    return status.get("setStatusSuccessReason") != "NO_STATUS_CHANGE"


def _match_errors(inputs: Sequence[StatusUpdate], errors: Any) -> dict[int, Failure]:
    """Attach each error to the inputs its context names: by email (and subscription id when given),
    or by subscription id alone when the error names no contact at all."""
    failures: dict[int, Failure] = {}
    if not isinstance(errors, list):
        return failures
    by_email: dict[str, list[int]] = {}
    by_subscription: dict[int, list[int]] = {}
    for index, update in enumerate(inputs):
        by_email.setdefault(update.email.lower(), []).append(index)
        by_subscription.setdefault(update.subscription_id, []).append(index)
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        values = set(_context_values(error))
        named_emails = {value.lower() for value in values if "@" in value}
        emails = {email for email in named_emails if email in by_email}
        numbers = {number for number in map(_subscription_number, values) if number is not None}
        subscriptions = {number for number in numbers if number in by_subscription}
        if emails:
            named = {i for email in emails for i in by_email[email]}
            if subscriptions:
                named = {i for i in named if inputs[i].subscription_id in subscriptions}
        elif subscriptions and not named_emails:
            named = {i for sub in subscriptions for i in by_subscription[sub]}
        else:
            # Names nothing we sent, or names a contact we did not send: those inputs stay unknown
            # (hence retried) rather than every input that shares the subscription id failing with it.
            continue
        failure = item_failure(error)
        for index in named:
            # A permanent verdict never hides behind a retryable one for the same input.
            if index not in failures or (failure.permanent and not failures[index].permanent):
                failures[index] = failure
    return failures


def _context_values(error: Mapping[str, Any]) -> Iterator[str]:
    """Every string in the error's context, and in its nested ErrorDetail contexts."""
    contexts = [error.get("context")]
    details = error.get("errors")
    if isinstance(details, list):
        contexts.extend(detail.get("context") for detail in details if isinstance(detail, Mapping))
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        for value in context.values():
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, str):
                    yield item.strip()
                elif isinstance(item, int) and not isinstance(item, bool) and 0 < item <= INT64_MAX:
                    yield str(item)


def _subscription_number(value: str) -> int | None:
    """A context value that can be a subscription id: ASCII digits only (``"²".isdigit()`` is True, yet
    ``int("²")`` raises) and short enough for int64 (``int()`` refuses strings over 4300 digits)."""
    if value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS:
        return int(value)
    return None


def item_failure(error: Mapping[str, Any]) -> Failure:
    """A per-item StandardError: validation-type categories are permanent, the rest retryable."""
    category = str(error.get("category") or "UNKNOWN")
    message = str(error.get("message") or "no message")
    detail = f"{category}: {message}"[:MAX_DETAIL]
    if category in PERMANENT_ITEM_CATEGORIES:
        return Failure(FailureCategory.HUBSPOT_REJECTED_ITEM, detail, permanent=True)
    return Failure(FailureCategory.UNKNOWN_OUTCOME, detail, permanent=False)


def _unknown(detail: str) -> ItemResult:
    return ItemResult(Failure(FailureCategory.UNKNOWN_OUTCOME, detail, permanent=False))
