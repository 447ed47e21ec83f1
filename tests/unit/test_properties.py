"""Property-based tests: the pure steps hold their promises for any input, not just the examples."""

from __future__ import annotations

import json
import string
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_writer.chunk import chunk, halves
from status_writer.coalesce import coalesce
from status_writer.fields import CHANNELS, INT64_MAX, LEGAL_BASES, STATUS_STATES
from status_writer.model import Failure, FailureCategory, ItemResult, Message, Outcome, Rejected, StatusUpdate
from status_writer.outcomes import map_batch_response
from status_writer.parse import FIELDS, message_from_record, parse_message
from status_writer.respond import batch_response, hold_back_fifo_groups

from tests.unit.helpers import FIFO_ARN

# The whole unit suite must stay well under 30 s: the headline properties (parse, map_batch_response)
# get the most examples, the structural ones fewer.
MODEST = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIGHT = settings(MODEST, max_examples=50)
THOROUGH = settings(MODEST, max_examples=200)

# --- strategies: message bodies ---------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

_label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
valid_emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.lists(_label, min_size=1, max_size=3).map(".".join),
    st.lists(_label, min_size=1, max_size=3),
    st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=6),
)
valid_bodies = st.fixed_dictionaries(
    {
        "subscriberIdString": valid_emails,
        "subscriptionId": st.one_of(
            st.integers(min_value=1, max_value=INT64_MAX), st.integers(min_value=1, max_value=10**12).map(str)
        ),
        "statusState": st.sampled_from(sorted(STATUS_STATES)),
    },
    optional={
        "channel": st.sampled_from(sorted(CHANNELS)),
        "legalBasis": st.sampled_from(sorted(LEGAL_BASES)),
        "legalBasisExplanation": st.text(
            alphabet=st.characters(
                exclude_categories=("Cc", "Cs", "Cn"),
                exclude_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
            ),
            max_size=50,
        ),
        "occurredAt": st.datetimes(
            min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 4), timezones=st.timezones()
        ).map(lambda moment: moment.isoformat()),
    },
)
field_values = st.one_of(
    json_values,
    valid_emails,
    st.sampled_from(sorted(STATUS_STATES | LEGAL_BASES | CHANNELS)),
    st.sampled_from(["2026-01-05T10:00:00Z", "2026-01-05T10:00:00+05:30", "9999-12-31T23:59:59-23:59"]),
    st.sampled_from([str(INT64_MAX), str(INT64_MAX + 1), "0", "-1", "²", "1" * 30]),
)
near_valid_bodies = st.dictionaries(
    st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=10)), field_values, max_size=9
)
object_bodies = st.one_of(valid_bodies, near_valid_bodies, json_values)


def _sns(inner: Any) -> dict[str, Any]:
    return {"Type": "Notification", "Message": json.dumps(inner) if not isinstance(inner, str) else inner}


def _eventbridge(inner: Any) -> dict[str, Any]:
    return {"detail-type": "x", "source": "y", "detail": inner}


wrapped_bodies = st.recursive(
    object_bodies,
    lambda inner: st.one_of(inner.map(_sns), inner.map(_eventbridge), inner.map(json.dumps).map(_sns)),
    max_leaves=5,
)
huge_strings = st.builds(lambda char, count: char * count, st.characters(), st.integers(0, 20_000))
raw_bodies = st.one_of(
    wrapped_bodies.map(json.dumps),
    st.text(),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
    st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", errors="surrogateescape")),
    huge_strings,
    huge_strings.map(lambda text: json.dumps(dict.fromkeys(FIELDS, text))),
    st.integers(1, 5_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


def _message(body: str) -> Message:
    return Message(message_id="m-prop", position=0, body=body, sent_timestamp_ms=1_767_607_200_000)


# --- parse ------------------------------------------------------------------------------------------


@MODEST
@given(raw_bodies)
def test_parse_message_never_raises_and_returns_exactly_one_verdict(raw: str) -> None:
    message = _message(raw)
    result = parse_message(message)
    assert type(result) in (StatusUpdate, Rejected)
    assert result.message is message
    if isinstance(result, Rejected):
        assert isinstance(result.reason, str)
        assert result.reason
    else:
        assert_well_formed(result)


def assert_well_formed(update: StatusUpdate) -> None:
    """Whatever parse accepts is a valid PublicStatusRequest."""
    assert 1 <= update.subscription_id <= INT64_MAX
    assert update.status_state in STATUS_STATES
    assert update.channel in CHANNELS
    assert update.legal_basis is None or update.legal_basis in LEGAL_BASES
    assert "@" in update.email
    assert len(update.email) <= 254
    item = update.to_input()
    assert set(item) <= {
        "subscriberIdString",
        "subscriptionId",
        "channel",
        "statusState",
        "legalBasis",
        "legalBasisExplanation",
    }
    json.dumps(item, allow_nan=False)


@LIGHT
@given(valid_bodies, st.integers(0, 3))
def test_valid_bodies_are_accepted_as_sent_however_often_wrapped(body: dict[str, Any], wraps: int) -> None:
    wrapped: Any = body
    for level in range(wraps):
        wrapped = _sns(wrapped) if level % 2 == 0 else _eventbridge(wrapped)
    result = parse_message(_message(json.dumps(wrapped)))
    assert isinstance(result, StatusUpdate), result
    assert result.email == body["subscriberIdString"]
    assert result.subscription_id == int(body["subscriptionId"])
    assert result.status_state == body["statusState"]
    assert result.legal_basis == body.get("legalBasis")
    assert result.legal_basis_explanation == body.get("legalBasisExplanation")
    assert (result.occurred_at_us is None) == ("occurredAt" not in body)


@LIGHT
@given(
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                key: json_values
                for key in (
                    "messageId",
                    "receiptHandle",
                    "body",
                    "attributes",
                    "messageAttributes",
                    "eventSourceARN",
                )
            },
        ),
        st.fixed_dictionaries(
            {"messageId": st.text(max_size=5), "body": st.text(max_size=30)},
            optional={
                "attributes": st.dictionaries(
                    st.sampled_from(["SentTimestamp", "ApproximateReceiveCount", "MessageGroupId"]),
                    st.one_of(json_values, st.sampled_from([float("inf"), float("nan"), "12", "-3"])),
                )
            },
        ),
        st.dictionaries(st.text(max_size=20), json_values, max_size=8),
    ),
    st.integers(0, 10_000),
)
def test_message_from_record_never_raises(record: dict[str, Any], position: int) -> None:
    message = message_from_record(record, position)
    assert message.position == position
    assert message.receive_count >= 1
    assert isinstance(message.body, str)
    assert type(parse_message(message)) in (StatusUpdate, Rejected)


# --- strategies: HubSpot answers --------------------------------------------------------------------

EMAILS = ["ada@example.com", "Bob@Example.com", "cy@example.org"]
SUBSCRIPTIONS = [1, 1001, 2002, INT64_MAX]


@st.composite
def sent_inputs(draw: st.DrawFn) -> list[StatusUpdate]:
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(EMAILS), st.sampled_from(SUBSCRIPTIONS)), min_size=0, max_size=8)
    )
    return [
        StatusUpdate(
            message=Message(message_id=f"m-{index}", position=index, body=""),
            email=email,
            subscription_id=subscription,
            status_state="SUBSCRIBED",
        )
        for index, (email, subscription) in enumerate(pairs)
    ]


odd_numbers = ["424242", "²", "١٠٠١", "1" * 5000, "-1", "+1001", "1_001", "01001", " 2002 ", 10**30, -5, True]
known_strings = st.one_of(
    st.sampled_from(
        [*EMAILS, "eve@example.com", "ADA@EXAMPLE.COM", " ada@example.com ", "ada@example.com\n"]
    ),
    st.sampled_from([str(sub) for sub in SUBSCRIPTIONS]),
    st.sampled_from([value for value in odd_numbers if isinstance(value, str)]),
    st.text(max_size=20),
)
context_values = st.one_of(known_strings, st.sampled_from([*SUBSCRIPTIONS, *odd_numbers]), json_values)
contexts = st.one_of(
    st.dictionaries(
        st.one_of(
            st.sampled_from(["ids", "subscriptionId", "emailAddress", "subscriberIdString"]),
            st.text(max_size=8),
        ),
        st.one_of(st.lists(context_values, min_size=1, max_size=4), context_values),
        min_size=1,
        max_size=3,
    ),
    json_values,
)
error_details = st.one_of(
    st.fixed_dictionaries({"message": st.text(max_size=10)}, optional={"context": contexts}), json_values
)
errors_entries = st.one_of(
    st.fixed_dictionaries(
        {"context": contexts},
        optional={
            "category": st.one_of(
                st.sampled_from(["VALIDATION_ERROR", "OBJECT_NOT_FOUND", "RATE_LIMITS", "INTERNAL_ERROR"]),
                json_values,
            ),
            "message": json_values,
            "status": st.just("error"),
            "errors": st.lists(error_details, max_size=3),
        },
    ),
    json_values,
)
result_entries = st.one_of(
    st.fixed_dictionaries(
        {
            "subscriberIdString": st.one_of(known_strings, json_values),
            "subscriptionId": st.one_of(st.sampled_from(SUBSCRIPTIONS), known_strings, json_values),
        },
        optional={
            "channel": st.just("EMAIL"),
            "status": st.sampled_from(sorted(STATUS_STATES)),
            "extra": json_values,
        },
    ),
    st.fixed_dictionaries(
        {}, optional={"subscriberIdString": known_strings, "subscriptionId": known_strings}
    ),
    json_values,
)
batch_statuses = st.sampled_from(["COMPLETE"] * 8 + ["PROCESSING", "PENDING", "CANCELED", "complete", None])
batch_bodies = st.one_of(
    # mostly well-shaped 200/207 bodies with odd contents, sometimes anything at all
    st.fixed_dictionaries(
        {
            "status": batch_statuses,
            "results": st.lists(result_entries, max_size=10),
            "errors": st.lists(errors_entries, max_size=5),
        },
        optional={
            "numErrors": json_values,
            "links": json_values,
            "startedAt": st.text(max_size=5),
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "status": st.one_of(batch_statuses, json_values),
            "results": json_values,
            "errors": json_values,
        },
    ),
    json_values,
)


def confirmed_by(body: Any, update: StatusUpdate) -> bool:
    """An independent reading of 'a result with this input's (email, subscriptionId) came back'."""
    if (
        not isinstance(body, Mapping)
        or body.get("status") != "COMPLETE"
        or not isinstance(body.get("results"), list)
    ):
        return False
    for result in body["results"]:
        if not isinstance(result, Mapping):
            continue
        email, subscription = result.get("subscriberIdString"), result.get("subscriptionId")
        if not isinstance(email, str) or email.lower() != update.email.lower():
            continue
        if isinstance(subscription, bool):
            continue
        if subscription == update.subscription_id and isinstance(subscription, int):
            return True
        if isinstance(subscription, str) and subscription.strip().lstrip("0") == str(update.subscription_id):
            return True  # the same number written as a decimal string (HubSpot's ids are strings elsewhere)
    return False


# --- map_batch_response -----------------------------------------------------------------------------


@THOROUGH
@given(sent_inputs(), batch_bodies)
def test_map_batch_response_never_raises_and_never_invents_an_applied_input(
    inputs: list[StatusUpdate], body: Any
) -> None:
    results = map_batch_response(inputs, body)
    assert len(results) == len(inputs)
    for update, result in zip(inputs, results, strict=True):
        assert isinstance(result, ItemResult)
        if result.applied:
            assert confirmed_by(body, update), (update, body)
        else:
            assert isinstance(result.failure, Failure)
            assert isinstance(result.failure.category, FailureCategory)
            if result.failure.permanent:
                assert result.failure.category is FailureCategory.HUBSPOT_REJECTED_ITEM


@LIGHT
@given(sent_inputs(), st.data())
def test_every_confirmed_input_without_errors_is_applied(
    inputs: list[StatusUpdate], data: st.DataObject
) -> None:
    # GIVEN a COMPLETE body confirming a random subset of the inputs and naming no errors
    chosen = data.draw(st.lists(st.booleans(), min_size=len(inputs), max_size=len(inputs)))
    confirmed = [update for update, pick in zip(inputs, chosen, strict=True) if pick]
    body = {
        "status": "COMPLETE",
        "results": [
            {"subscriberIdString": u.email.upper(), "subscriptionId": u.subscription_id} for u in confirmed
        ],
    }
    confirmed_keys = {(u.email.lower(), u.subscription_id) for u in confirmed}
    # THEN exactly the inputs whose key was confirmed are applied (duplicates share the answer)
    results = map_batch_response(inputs, body)
    assert [r.applied for r in results] == [
        (u.email.lower(), u.subscription_id) in confirmed_keys for u in inputs
    ]


# --- coalesce, chunk, respond -----------------------------------------------------------------------


_update_fields = st.tuples(
    st.sampled_from(["a@x.io", "A@X.IO", "b@x.io"]),
    st.sampled_from([1, 2]),
    st.integers(0, 3),  # SentTimestamp, ms
    st.one_of(st.none(), st.integers(0, 3000)),  # occurredAt, us
)
parsed_updates = st.lists(_update_fields, max_size=25).map(
    lambda rows: [
        StatusUpdate(
            message=Message(message_id=f"m-{index}", position=index, body="", sent_timestamp_ms=sent_ms),
            email=email,
            subscription_id=subscription,
            status_state="SUBSCRIBED",
            occurred_at_us=occurred_us,
        )
        for index, (email, subscription, sent_ms, occurred_us) in enumerate(rows)
    ]
)


@LIGHT
@given(parsed_updates)
def test_coalesce_keeps_exactly_the_newest_of_each_key(updates: list[StatusUpdate]) -> None:
    plan = coalesce(updates)
    by_key: dict[tuple[str, int, str], list[StatusUpdate]] = defaultdict(list)
    for update in updates:
        by_key[update.key].append(update)
    assert len(plan.winners) == len(by_key)
    for winner in plan.winners:
        assert winner.recency == max(other.recency for other in by_key[winner.key])
    winner_ids = {w.message.message_id for w in plan.winners}
    assert winner_ids.isdisjoint(plan.superseded_by)
    assert winner_ids | set(plan.superseded_by) == {u.message.message_id for u in updates}
    by_id = {u.message.message_id: u for u in updates}
    for loser, winner_id in plan.superseded_by.items():
        assert winner_id in winner_ids
        assert by_id[loser].key == by_id[winner_id].key


@LIGHT
@given(st.lists(st.integers(), max_size=400), st.integers(1, 150))
def test_chunk_and_halves_lose_and_reorder_nothing(items: list[int], size: int) -> None:
    parts = chunk(items, size)
    assert [item for part in parts for item in part] == items
    assert all(1 <= len(part) <= size for part in parts)
    assert all(len(part) == size for part in parts[:-1])
    left, right = halves(items)
    assert list(left) + list(right) == items
    assert abs(len(left) - len(right)) <= 1


@LIGHT
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["g1", "g2", "g3"])), max_size=15),
    st.data(),
)
def test_fifo_hold_back_never_deletes_after_a_failure_in_the_same_group(
    groups: list[str | None], data: st.DataObject
) -> None:
    messages = [
        Message(message_id=f"m-{i}", position=i, body="", group_id=group, source_arn=FIFO_ARN)
        for i, group in enumerate(groups)
    ]
    outcomes = {
        message.message_id: outcome
        for message in messages
        if (outcome := data.draw(st.one_of(st.none(), st.sampled_from(list(Outcome))))) is not None
    }
    adjusted = hold_back_fifo_groups(messages, outcomes)
    reported = {entry["itemIdentifier"] for entry in batch_response(messages, adjusted)["batchItemFailures"]}
    failed: set[str] = set()
    for message in messages:
        # a message is reported if and only if it is retryable or has no outcome
        assert (message.message_id in reported) == (
            adjusted.get(message.message_id, Outcome.RETRYABLE) is Outcome.RETRYABLE
        )
        if message.group_id is None:
            assert adjusted.get(message.message_id) == outcomes.get(message.message_id)
            continue
        if message.group_id in failed:
            assert message.message_id in reported
        if message.message_id in reported:
            failed.add(message.group_id)
        # hold-back only ever turns outcomes into RETRYABLE
        if message.message_id not in reported:
            assert adjusted[message.message_id] == outcomes[message.message_id]
