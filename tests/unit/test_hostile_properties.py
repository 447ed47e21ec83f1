"""Hostile-world properties over the pure parts (generated, many cases, fast): message bodies in full
Unicode (lone surrogates, controls, bidi overrides, non-characters), extreme numbers and dates; HubSpot
answers of any status and shape. Each asserts that every input ends in exactly one correct verdict."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_writer.answers import batch_answer
from status_writer.dead_letter import MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, DeadLetterQueue
from status_writer.fields import EARLIEST_OCCURRED_AT, INT64_MAX, MAX_CLOCK_AHEAD
from status_writer.model import Failure, FailureCategory, Message, Rejected, StatusUpdate
from status_writer.outcomes import PERMANENT_ITEM_CATEGORIES, map_batch_response
from status_writer.parse import parse_message
from status_writer.transport import encode

from tests.unit.helpers import update

# Case counts per run of the unit suite: 3,000 bodies + 2,500 answers + 3,000 mappings + 1,500 DLQ
# copies = 10,000. Strategies are kept flat: generation, not the code under test, is what costs here.
MANY = settings(
    max_examples=3_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ANSWERS = settings(MANY, max_examples=2_500)
COPIES = settings(MANY, max_examples=1_500)

SQS_TEXT = re.compile("[\\t\\n\\r\\x20-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff]*")
UNSAFE = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff\\ufdd0-\\ufdef\\u202a-\\u202e\\u2066-\\u2069]")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- strategies -------------------------------------------------------------------------------------

hostile_characters = st.one_of(
    st.characters(exclude_categories=()),  # every assigned and unassigned code point but surrogates
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from(["\u202e", "\u2066", "\ufffe", "\uffff", "\U0010ffff", "\x85", "\x00", "😀", "\u200d"]),
)
hostile_text = st.text(alphabet=hostile_characters, max_size=40)
extreme_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, INT64_MAX, INT64_MAX + 1, -1, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=1, max_value=10**25).map(str),
)
# Fixed offsets rather than st.timezones(): the same range of offsets, at a fraction of the cost.
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.none(), offsets),
)
occurred_at = st.one_of(
    moments.map(lambda moment: moment.isoformat()),
    moments.map(lambda moment: moment.strftime("%Y-%m-%d")),  # date only
    moments.map(lambda moment: moment.strftime("%G-W%V-%u")),  # week date
    moments.map(lambda moment: moment.strftime("%Y%m%dT%H%M%SZ")),  # basic form
    hostile_text,
)
sent_timestamps = st.one_of(st.just(0), st.integers(min_value=0, max_value=2**42))
bodies = st.fixed_dictionaries(
    {
        "subscriberIdString": st.one_of(
            st.just("ada@example.com"), hostile_text.map(lambda t: f"{t}@example.com")
        ),
        "subscriptionId": extreme_numbers,
        "statusState": st.sampled_from(["SUBSCRIBED", "UNSUBSCRIBED", "OPTED_IN"]),
    },
    optional={"legalBasisExplanation": hostile_text, "occurredAt": occurred_at},
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=4,
)


def raw_body(body: dict[str, Any], ascii_only: bool) -> str:
    return json.dumps(body, ensure_ascii=ascii_only, allow_nan=True)


# --- parse ------------------------------------------------------------------------------------------


@MANY
@given(body=bodies, ascii_only=st.booleans(), sent_ms=sent_timestamps, now_ms=st.integers(0, 2**42))
def test_whatever_the_body_parse_accepts_is_encodable_and_believable_and_rejects_say_why_in_sqs_text(
    body: dict[str, Any], ascii_only: bool, sent_ms: int, now_ms: int
) -> None:
    message = Message(message_id="m", position=0, body=raw_body(body, ascii_only), sent_timestamp_ms=sent_ms)
    result = parse_message(message, now_ms=now_ms)
    assert type(result) in (StatusUpdate, Rejected)
    if isinstance(result, Rejected):
        assert result.reason  # the DLQ attribute says why (its SQS-safety: the dead-letter property)
        return
    # Accepted: HubSpot's encoder takes it, free text is clean, ids fit int64, the time is believable
    assert encode({"inputs": [result.to_input()]}) is not None
    assert not UNSAFE.search(result.legal_basis_explanation or "")
    assert 1 <= result.subscription_id <= INT64_MAX
    if result.occurred_at_us is not None:
        moment = EPOCH + timedelta(microseconds=result.occurred_at_us)
        reference = EPOCH + timedelta(milliseconds=sent_ms or now_ms)
        assert EARLIEST_OCCURRED_AT <= moment <= reference + MAX_CLOCK_AHEAD


def _update(email: str, subscription_id: int, position: int) -> StatusUpdate:
    message = Message(message_id=f"m-{position}", position=position, body="{}")
    return StatusUpdate(
        message=message, email=email, subscription_id=subscription_id, status_state="SUBSCRIBED"
    )


def _invalid(reason: str) -> Failure:
    return Failure(FailureCategory.INVALID_MESSAGE, reason, permanent=True)


# --- HubSpot answers --------------------------------------------------------------------------------

SENT = [update("ada@example.com", 1001, message_id="m-0"), update("bob@example.com", 2002, message_id="m-1")]
statuses = st.one_of(st.sampled_from([200, 207, 400, 413]), st.integers(min_value=100, max_value=599))
answer_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"status": st.one_of(st.sampled_from(["COMPLETE", "PROCESSING"]), json_values)},
        optional={
            "results": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "subscriberIdString": st.sampled_from(
                                ["ada@example.com", "BOB@example.com", "x@y.z"]
                            ),
                            "subscriptionId": st.one_of(
                                st.sampled_from([1001, 2002, "1001", 3]), json_values
                            ),
                        }
                    ),
                    max_size=3,
                ),
                json_values,
            ),
            "errors": st.one_of(st.lists(json_values, max_size=2), json_values),
            "message": st.one_of(st.text(max_size=10), json_values),
            "category": st.one_of(st.sampled_from(sorted(PERMANENT_ITEM_CATEGORIES)), json_values),
        },
    ),
)


@ANSWERS
@given(status=statuses, body=answer_bodies)
def test_every_answer_gives_every_input_exactly_one_verdict_and_only_hubspots_shapes_are_trusted(
    status: int, body: Any
) -> None:
    answer = batch_answer(status, body)
    if status not in (200, 207, 400, 413):
        assert answer is None  # decided by the status alone, elsewhere
        return
    assert answer is not None
    assert sum(part is not None for part in (answer.body, answer.rejected, answer.failure)) == 1
    if answer.failure is not None:
        assert answer.failure.permanent is False  # never a dead letter for an answer's shape
    if status in (200, 207):
        assert answer.rejected is None  # a 2xx is never bisected
    if answer.rejected is not None:
        assert isinstance(body, dict)
        assert isinstance(body.get("message"), str)
    if answer.body is not None:
        results = map_batch_response(SENT, answer.body)
        assert len(results) == len(SENT)
        for item, result in zip(SENT, results, strict=True):
            if result.applied:
                assert answer.body["status"] == "COMPLETE"
                assert any(
                    isinstance(r, dict)
                    and str(r.get("subscriberIdString")).lower() == item.email
                    and str(r.get("subscriptionId")) == str(item.subscription_id)
                    for r in answer.body["results"]
                )


# --- outcomes: a confirmed result wins ----------------------------------------------------------------

EMAILS = ["ada@example.com", "bob@example.com", "cy@example.com"]
SUBSCRIPTIONS = [1001, 2002]
KEYS = [(email, subscription) for email in EMAILS for subscription in SUBSCRIPTIONS]
CATEGORIES = [*sorted(PERMANENT_ITEM_CATEGORIES), "INTERNAL_ERROR", "RATE_LIMIT"]
NAMES = [*EMAILS, *map(str, SUBSCRIPTIONS)]  # what an error's context may name
# Drawn as small integers (the cheapest thing to generate), turned into keys and errors below.
key_indexes = st.lists(st.integers(0, len(KEYS) - 1), max_size=6)
error_draws = st.lists(
    st.tuples(st.integers(0, len(CATEGORIES) - 1), st.lists(st.integers(0, len(NAMES) - 1), max_size=2)),
    max_size=4,
)


@MANY
@given(sent_indexes=key_indexes.filter(bool), confirmed_indexes=key_indexes, drawn_errors=error_draws)
def test_confirmed_inputs_are_applied_and_the_rest_fail_permanently_only_when_named(
    sent_indexes: list[int], confirmed_indexes: list[int], drawn_errors: list[tuple[int, list[int]]]
) -> None:
    sent = list(dict.fromkeys(KEYS[i] for i in sent_indexes))  # coalescing leaves one input per key
    confirmed = {KEYS[i] for i in confirmed_indexes}
    errs = [
        {"category": CATEGORIES[c], "message": "m", "context": {"ids": [NAMES[n] for n in names]}}
        for c, names in drawn_errors
    ]
    inputs = [_update(email, sub, n) for n, (email, sub) in enumerate(sent)]
    body = {
        "status": "COMPLETE",
        "results": [{"subscriberIdString": email, "subscriptionId": sub} for email, sub in confirmed],
        "errors": errs,
    }
    results = map_batch_response(inputs, body)
    assert len(results) == len(inputs)
    for (email, sub), result in zip(sent, results, strict=True):
        if (email, sub) in confirmed:  # confirmed wins, whatever the errors say
            assert result.applied
            continue
        assert result.failure is not None
        if result.failure.permanent:  # only an error of a permanent category that names it
            assert any(
                e["category"] in PERMANENT_ITEM_CATEGORIES
                and (email in e["context"]["ids"] or str(sub) in e["context"]["ids"])
                for e in errs
            )


# --- dead-letter copies -------------------------------------------------------------------------------


@COPIES
@given(
    body_bytes=st.one_of(
        st.integers(min_value=0, max_value=4_000),
        st.integers(min_value=MAX_MESSAGE_BYTES - 80_000, max_value=MAX_MESSAGE_BYTES + 100),
    ),
    originals=st.dictionaries(
        st.text(alphabet="abcdefgh", min_size=1, max_size=6), st.integers(0, 60_000), max_size=12
    ),
    reason=hostile_text,
)
def test_a_dead_letter_copy_fits_sqs_or_there_is_none(
    body_bytes: int, originals: dict[str, int], reason: str
) -> None:
    attributes = {name: {"dataType": "String", "stringValue": "v" * size} for name, size in originals.items()}
    message = Message(message_id="m", position=0, body="b" * body_bytes, attributes=attributes)
    built = DeadLetterQueue(None, "https://q")._entry(0, message, _invalid(reason))
    if built is None:
        assert body_bytes > MAX_MESSAGE_BYTES - 200  # only a body that leaves no room for the reason
        return
    entry = built[1]
    carried = entry["MessageAttributes"]
    assert len(carried) <= MAX_ATTRIBUTES
    size = len(entry["MessageBody"].encode()) + sum(
        len(n) + len(v["DataType"]) + len(v["StringValue"].encode()) for n, v in carried.items()
    )
    assert size <= MAX_MESSAGE_BYTES
    assert all(SQS_TEXT.fullmatch(v["StringValue"]) for v in carried.values())
    assert set(originals) <= set(carried) | set(
        carried.get("dropped_attributes", {}).get("StringValue", "").split(",")
    )
