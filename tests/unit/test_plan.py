"""The ordering plan (plan.py): pure, from a contact's history and the batch to the steps to send."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_writer.coalesce import coalesce
from status_writer.entries import Entry, History, Planned, committed, entry_of
from status_writer.model import StatusUpdate, UnsubscribeAll
from status_writer.parse import parse_message
from status_writer.plan import Plan, build_plan, is_due, update_of

from tests.factories import status_body, unsubscribe_all_body
from tests.unit.helpers import message

ADA = ("ada@example.com", "EMAIL")


def write(
    at: str,
    sub: int = 1001,
    state: str = "SUBSCRIBED",
    *,
    mid: str = "w",
    email: str = "ada@example.com",
    **kw: Any,
) -> StatusUpdate:
    item = parse_message(message(status_body(email, sub, state, occurredAt=at), message_id=mid, **kw))
    assert isinstance(item, StatusUpdate), item
    return item


def opt_out(at: str, brand: int | None = None, *, mid: str = "u", **kw: Any) -> UnsubscribeAll:
    item = parse_message(
        message(unsubscribe_all_body("ada@example.com", brand, occurredAt=at), message_id=mid, **kw)
    )
    assert isinstance(item, UnsubscribeAll), item
    return item


def history(*items: StatusUpdate | UnsubscribeAll) -> History:
    return History(entries={entry_of(i).key: entry_of(i) for i in items}, count=len(items))


def steps(plan: Plan) -> list[list[str]]:
    """Per step: batch message ids, and ``resend:<key>`` for history entries re-sent."""
    return [
        [u.message.message_id for u in step.plain]
        + [
            p.update.message.message_id if p.update else f"resend:{p.entry.key[0]}{p.entry.key[1]}"
            for p in step.items
        ]
        for step in plan.steps
    ]


def resends(plan: Plan) -> list[Planned]:
    return [p for step in plan.steps for p in step.items if p.update is None]


def test_writes_of_many_contacts_without_history_share_one_step() -> None:
    # GIVEN writes of two contacts and no history WHEN planned THEN one write step holds both
    plan = build_plan(
        {},
        [
            write("2026-01-05T10:00:00Z", mid="a"),
            write("2026-01-05T10:00:00Z", email="bob@example.com", mid="b"),
        ],
    )
    assert steps(plan) == [["a", "b"]]
    assert not plan.steps[0].opt_outs


def test_nothing_in_nothing_out() -> None:
    assert build_plan({}, []).steps == ()


def test_an_update_the_history_holds_newer_is_superseded_without_a_step() -> None:
    plan = build_plan(
        {ADA: history(write("2026-01-05T11:00:00Z", mid="old"))}, [write("2026-01-05T10:00:00Z")]
    )
    assert plan.superseded == {"w": None}
    assert plan.steps == ()


def test_the_same_version_and_payload_is_a_duplicate() -> None:
    held = write("2026-01-05T10:00:00Z", mid="first")
    plan = build_plan({ADA: history(held)}, [write("2026-01-05T10:00:00Z", mid="again")])
    assert plan.superseded == {"again": None}
    assert plan.steps == ()


def test_the_same_version_with_another_payload_is_a_later_arrival_and_wins() -> None:
    # GIVEN the history holds SUBSCRIBED at a version WHEN UNSUBSCRIBED arrives at the same version
    held = write("2026-01-05T10:00:00Z", mid="first")
    later = write("2026-01-05T10:00:00Z", state="UNSUBSCRIBED", mid="later")
    plan = build_plan({ADA: history(held)}, [later])
    # THEN it is sent, as the later position wins within one batch
    assert steps(plan) == [["later"]]
    assert plan.superseded == {}


def test_a_write_under_a_newer_portal_opt_out_in_the_history_is_superseded() -> None:
    plan = build_plan({ADA: history(opt_out("2026-01-05T11:00:00Z"))}, [write("2026-01-05T10:00:00Z")])
    assert plan.superseded == {"w": None}


def test_a_write_newer_than_the_historys_portal_opt_out_is_sent_alone() -> None:
    plan = build_plan({ADA: history(opt_out("2026-01-05T09:00:00Z"))}, [write("2026-01-05T10:00:00Z")])
    assert steps(plan) == [["w"]]


def test_an_old_write_under_a_newer_brand_opt_out_is_followed_by_its_re_send() -> None:
    # GIVEN a brand opt-out at 11:00 in the history WHEN a write at 10:00 arrives
    plan = build_plan(
        {ADA: history(opt_out("2026-01-05T11:00:00Z", 0, mid="h"))}, [write("2026-01-05T10:00:00Z")]
    )
    # THEN the write goes first and the opt-out is re-sent after it, due once the write took effect
    assert steps(plan) == [["w"], ["resend:U0"]]
    (again,) = resends(plan)
    assert again.triggers == frozenset({0})
    assert not again.unconditional
    assert not is_due(again, set())
    assert is_due(again, {0})


def test_a_late_opt_out_is_followed_by_the_newer_writes() -> None:
    held = write("2026-01-05T11:00:00Z", mid="h")
    plan = build_plan({ADA: history(held)}, [opt_out("2026-01-05T10:00:00Z")])
    assert steps(plan) == [["u"], ["resend:S1001"]]
    assert update_of(resends(plan)[0]).to_input() == held.to_input()


def test_entries_older_than_what_is_sent_are_not_re_sent() -> None:
    plan = build_plan({ADA: history(opt_out("2026-01-05T09:00:00Z", 0))}, [write("2026-01-05T10:00:00Z")])
    assert resends(plan) == []


def test_a_redelivered_message_makes_the_newer_entries_due_whatever_happens() -> None:
    # GIVEN a redelivery the history holds newer (its first delivery may have landed after the newer)
    redelivered = write("2026-01-05T10:00:00Z", mid="again", receive_count=2)
    plan = build_plan(
        {ADA: history(write("2026-01-05T11:00:00Z", state="UNSUBSCRIBED"))}, [redelivered], [redelivered]
    )
    # THEN the newer entry is re-sent unconditionally
    assert plan.superseded == {"again": None}
    (again,) = resends(plan)
    assert again.unconditional
    assert is_due(again, set())


def test_a_write_between_two_brand_opt_outs_goes_between_them_and_opt_outs_in_a_row_share_a_step() -> None:
    batch = [
        opt_out("2026-01-05T09:00:00Z", 1, mid="u1"),
        opt_out("2026-01-05T09:30:00Z", 2, mid="u2"),
        write("2026-01-05T10:00:00Z"),
        opt_out("2026-01-05T11:00:00Z", 3, mid="u3"),
    ]
    assert steps(build_plan({}, batch)) == [["u1", "u2"], ["w"], ["u3"]]


def test_commit_keeps_the_history_adds_what_applied_and_drops_what_hubspot_rejects_for_good() -> None:
    kept, gone = write("2026-01-05T09:00:00Z", 1002), write("2026-01-05T09:00:00Z", 1003)
    new = entry_of(write("2026-01-05T10:00:00Z"))
    entries = committed(history(kept, gone), [new], [entry_of(gone).key])
    assert entries == {entry_of(kept).key: entry_of(kept), new.key: new}


# --- property: for any history and batch --------------------------------------------------------

MINUTES = st.integers(min_value=0, max_value=5)  # few values: ties are common
KEYS = st.sampled_from([("S", 1001), ("S", 1002), ("U", None), ("U", 0), ("U", 1)])


def _item(
    key: tuple[str, int | None], minute: int, state: str, mid: str, email: str
) -> StatusUpdate | UnsubscribeAll:
    at = f"2026-01-05T10:0{minute}:00Z"
    if key[0] == "S":
        assert key[1] is not None
        return write(at, key[1], state, mid=mid, email=email)
    body = unsubscribe_all_body(email, key[1], occurredAt=at)
    item = parse_message(message(body, message_id=mid))
    assert isinstance(item, UnsubscribeAll)
    return item


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[Any, History], list[StatusUpdate | UnsubscribeAll], list[Any]]:
    histories: dict[Any, History] = {}
    batch: list[StatusUpdate | UnsubscribeAll] = []
    for email in draw(
        st.lists(st.sampled_from(["ada@example.com", "bob@example.com"]), min_size=1, unique=True)
    ):
        held = [
            _item(k, m, s, f"h-{email}-{n}", email)
            for n, (k, m, s) in enumerate(
                draw(
                    st.lists(
                        st.tuples(KEYS, MINUTES, st.sampled_from(["SUBSCRIBED", "UNSUBSCRIBED"])), max_size=5
                    )
                )
            )
        ]
        histories[(email, "EMAIL")] = history(*held)
        batch += [
            _item(k, m, s, f"b-{email}-{n}", email)
            for n, (k, m, s) in enumerate(
                draw(
                    st.lists(
                        st.tuples(KEYS, MINUTES, st.sampled_from(["SUBSCRIBED", "UNSUBSCRIBED"])), max_size=6
                    )
                )
            )
        ]
    for position, item in enumerate(batch):
        item.message.position = position
    writes = coalesce(i for i in batch if isinstance(i, StatusUpdate)).winners
    opt_outs = coalesce(i for i in batch if isinstance(i, UnsubscribeAll)).winners
    doubts = draw(st.lists(st.sampled_from(batch), max_size=2)) if batch else []
    return histories, [*opt_outs, *writes], doubts


Sent = dict[Any, list[tuple[int, Entry]]]  # per contact: (step, entry) in step order


def _sent(plan: Plan) -> Sent:
    sequence: Sent = {}
    for index, step in enumerate(plan.steps):
        for update in step.plain:
            assert not step.opt_outs
            sequence.setdefault(update.subscriber, []).append((index, entry_of(update)))
        for planned in step.items:
            assert planned.entry.opt_out == step.opt_outs
            sequence.setdefault(planned.contact, []).append((index, planned.entry))
    return sequence


def _never_older_after_newer(sent: list[tuple[int, Entry]]) -> None:
    """Nothing older is sent in a later step than something newer of the same key or barrier."""
    for i, (step_a, a) in enumerate(sent):
        for step_b, b in sent[i + 1 :]:
            if step_b > step_a and (a.key == b.key or a.opt_out != b.opt_out):
                assert a.version <= b.version, (a, b)


def _last_is_newest(plan: Plan, sent: list[tuple[int, Entry]], mine: list[Any], history: History) -> None:
    """The last entry sent of each key is its newest version across history and batch (an update
    covered by a newer portal-wide opt-out sent after it is not the newest state)."""
    for key in {entry.key for _, entry in sent}:
        last = [entry for _, entry in sent if entry.key == key][-1]
        candidates = [
            entry_of(u)
            for u in mine
            if entry_of(u).key == key and u.message.message_id not in plan.superseded
        ]
        assert last.version >= max((e.version for e in candidates), default="")
        held = history.entries.get(key)
        assert held is None or last.version >= held.version


def _undone_is_re_sent(sent: list[tuple[int, Entry]], history: History) -> None:
    """Whatever a sent update may have undone (a newer entry of the other kind) is sent after it; an
    ``UNSUBSCRIBED`` write and an opt-out leave each other as they are."""
    for step_x, x in sent:
        for e in history.entries.values():
            write = x if e.opt_out else e
            if e.version > x.version and e.opt_out != x.opt_out and write.state != "UNSUBSCRIBED":
                assert any(step > step_x and y.key == e.key for step, y in sent), (x, e)


def _superseded_only_when_older(plan: Plan, updates: list[Any], histories: dict[Any, History]) -> None:
    """A batch update newer than its key's history (or different at the same version) is sent,
    unless it is a write under a newer portal-wide opt-out of its contact."""
    for update in updates:
        entry = entry_of(update)
        history = histories.get(update.subscriber, History())
        known = history.entries.get(entry.key)
        fresher = (
            known is None
            or entry.version > known.version
            or (entry.version == known.version and entry.payload != known.payload)
        )
        if not (fresher and update.message.message_id in plan.superseded):
            continue
        portal = [
            e.version
            for e in [
                *(entry_of(u) for u in updates if u.subscriber == update.subscriber),
                *history.entries.values(),
            ]
            if e.key == ("U", "ALL")
        ]
        assert not entry.opt_out
        assert any(version > entry.version for version in portal)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_plan_leaves_every_key_at_its_newest_version_and_never_sends_older_after_newer(
    scenario: tuple[dict[Any, History], list[StatusUpdate | UnsubscribeAll], list[Any]],
) -> None:
    histories, updates, doubts = scenario
    plan = build_plan(histories, updates, doubts)
    sequence = _sent(plan)
    # every batch update is either planned once or superseded, never both
    planned_ids = [p.update.message.message_id for s in plan.steps for p in s.items if p.update]
    planned_ids += [u.message.message_id for s in plan.steps for u in s.plain]
    assert len(planned_ids) == len(set(planned_ids))
    assert set(planned_ids) | set(plan.superseded) == {u.message.message_id for u in updates}
    assert not set(planned_ids) & set(plan.superseded)
    for contact, sent in sequence.items():
        history = histories.get(contact, History())
        _never_older_after_newer(sent)
        _last_is_newest(plan, sent, [u for u in updates if u.subscriber == contact], history)
        _undone_is_re_sent(sent, history)
    _superseded_only_when_older(plan, updates, histories)
