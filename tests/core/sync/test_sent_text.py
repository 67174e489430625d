"""`ListingState.sent_json` made by `with_sent` is dumped when first read, not per operation.

The text read, the text the store writes and the state's equality are the same as when
`with_sent` dumped the projection at once (`Projection.model_dump_json()`).
"""

from __future__ import annotations

import dataclasses
import pickle
import sqlite3
from pathlib import Path

import pytest

from listsync.adapter import PortalStatus, ProjectedItem, Projection
from listsync.sync import ListingState, Outcome, SQLiteStateStore, StateKey

KEY = StateKey("acme", "agency-a", "L-1")
FIRST = Projection(external_ref="L-1", fields={"price": 1, "text": "å" * 500, "n": None})


def _item(key: str) -> ProjectedItem:
    return ProjectedItem(key=key, canonical_index=0, payload={"url": f"https://img/{key}.jpg"})


def _steps() -> list[tuple[Projection, dict[str, str]]]:
    """The projections and item ids of a listing's operations, one after the other."""
    out: list[tuple[Projection, dict[str, str]]] = []
    sent, ids = FIRST, dict[str, str]()
    for key in ("a", "b", "c"):
        sent = sent.model_copy(update={"media": (*sent.media, _item(key))})
        ids = {**ids, key: f"I-{key}"}
        out.append((sent, ids))
    sent = sent.model_copy(update={"fields": {**sent.fields, "price": 2}, "media": sent.media[1:]})
    ids = {k: v for k, v in ids.items() if k != "a"}
    out.append((sent, ids))
    return out


def _stored(path: Path) -> tuple[list[tuple[str, ...]], list[str | None]]:
    """The whole projections and the steps' texts as the SQLite store holds them."""
    db = sqlite3.connect(path)
    try:
        wholes = db.execute("SELECT external_ref, data FROM sent_projection").fetchall()
        steps = db.execute("SELECT step FROM audit ORDER BY id").fetchall()
    finally:
        db.close()
    return wholes, [s for (s,) in steps]


def test_part_way_states_dump_no_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """A state between two operations (recorded as a step) never dumps the whole projection;
    reading `sent_json` dumps it once."""
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    calls: list[Projection] = []
    dump = Projection.model_dump_json

    def counting(self: Projection, **kwargs: object) -> str:
        calls.append(self)
        return dump(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Projection, "model_dump_json", counting)
    for sent, ids in _steps():
        state = state.with_sent(sent, part_way=True, item_ids=ids)
    assert calls == []
    assert state.exists
    assert state.sent == _steps()[-1][0]
    text = state.sent_json
    assert state.sent_json is text  # dumped once, the same string every time
    assert len(calls) == 1
    assert state.sent_record is not None
    assert state.sent_record.json is text


def test_text_read_and_stored_is_the_eager_dump(tmp_path: Path) -> None:
    """For a sequence of steps, then the converged state: each state's `sent_json` is the
    projection's `model_dump_json()`, the store holds that whole text and the steps (which do
    not depend on the text), and reads the same states back."""
    path = tmp_path / "s.sqlite"
    store = SQLiteStateStore(path)
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    store.save(state)
    recorded: list[str | None] = []
    for sent, ids in _steps():
        state = state.with_sent(sent, part_way=True, item_ids=ids)
        store.save(state)
        assert state.sent_record is not None
        recorded.append(state.sent_record.step)
        assert state.sent_json == sent.model_dump_json()
    assert _stored(path) == ([("L-1", FIRST.model_dump_json())], recorded)
    for reader in (store, SQLiteStateStore(path)):
        loaded = reader.get(KEY)
        assert loaded is not None
        assert loaded.sent_json == _steps()[-1][0].model_dump_json()
        assert loaded == state
    final = _steps()[-1][0].model_copy(update={"sale": {"price": 3}})
    store.save(state.with_sent(final, outcome=Outcome.CONVERGED))
    assert _stored(path)[0] == [("L-1", final.model_dump_json())]
    reopened = SQLiteStateStore(path).get(KEY)
    assert reopened is not None
    assert reopened.sent_json == final.model_dump_json()
    assert reopened.sent_hash == final.digest()


def test_a_part_way_state_the_store_cannot_step_is_written_whole(tmp_path: Path) -> None:
    """A part-way state whose parent is not stored (here: a fresh store) is written whole,
    with the text its projection dumps to."""
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    sent, ids = _steps()[0]
    state = state.with_sent(sent, part_way=True, item_ids=ids)
    store = SQLiteStateStore(tmp_path / "s.sqlite")
    store.save(state)
    assert _stored(tmp_path / "s.sqlite")[0] == [("L-1", sent.model_dump_json())]
    loaded = store.get(KEY)
    assert loaded is not None
    assert loaded.sent == sent


def _eager(state: ListingState) -> ListingState:
    """The same state built with its text given (as `with_sent` built it before)."""
    values = {f.name: getattr(state, f.name) for f in dataclasses.fields(ListingState)}
    return ListingState(**values)


def test_equality_hash_repr_and_copies_are_unchanged() -> None:
    """A state whose text is not dumped yet compares, prints, copies and pickles as the state
    with the text given; `hash` refuses both (the item ids are a dict), `sent_json` stays
    read-only, and the dataclass fields are the same."""
    base = ListingState(*KEY, remote_id="R1", status=PortalStatus.LIVE).with_sent(FIRST)
    sent, ids = _steps()[1]
    lazy = base.with_sent(sent, part_way=True, item_ids=ids)
    other = base.with_sent(sent, part_way=True, item_ids=ids)
    assert lazy == other  # both compared through their (dumped) texts
    eager = _eager(lazy)
    assert eager.sent_json is lazy.sent_json
    assert lazy == eager
    assert eager == lazy
    assert repr(lazy) == repr(eager)
    assert lazy != dataclasses.replace(eager, sent_json=FIRST.model_dump_json())
    for state in (lazy, eager):
        with pytest.raises(TypeError, match="unhashable"):
            hash(state)
        with pytest.raises(dataclasses.FrozenInstanceError):
            state.sent_json = "{}"  # type: ignore[misc]
    fresh = base.with_sent(sent, part_way=True, item_ids=ids)
    assert dataclasses.replace(fresh, attempts=3) == dataclasses.replace(eager, attempts=3)
    assert dataclasses.asdict(fresh)["sent_json"] == sent.model_dump_json()
    copied = pickle.dumps(base.with_sent(sent, part_way=True, item_ids=ids))
    assert pickle.loads(copied) == eager  # noqa: S301 (our own bytes)
    assert ListingState(*KEY).sent_json is None
    assert ListingState(*KEY, sent_json="{}").sent_json == "{}"
    assert base.with_sent(None).sent_json is None
    assert not base.with_sent(None).exists
    assert [f.name for f in dataclasses.fields(ListingState)][3:6] == [
        "remote_id",
        "sent_json",
        "sent_hash",
    ]


def test_with_sent_is_replace_with_the_sent_fields() -> None:
    """`with_sent` makes the state `dataclasses.replace` makes with the same changes (every
    field, in order), and refuses what `replace` refuses."""
    base = ListingState(*KEY, remote_id="R1", attempts=2, issues=()).with_sent(FIRST)
    sent, ids = _steps()[0]
    changes: dict[str, object] = {"item_ids": ids, "status": PortalStatus.LIVE, "attempts": 0}
    for part_way in (True, False):
        made = base.with_sent(sent, part_way=part_way, **changes)
        expected = dataclasses.replace(
            base,
            sent_json=sent.model_dump_json(),
            sent_hash=None if part_way else sent.digest(),
            sent_record=made.sent_record,
            **changes,  # type: ignore[arg-type]
        )
        assert made == expected
        assert list(vars(made)) == list(vars(expected))
        assert [getattr(made, f.name) for f in dataclasses.fields(ListingState)] == [
            getattr(expected, f.name) for f in dataclasses.fields(ListingState)
        ]
        assert made.sent_record is not None
        assert made.sent_record.item_ids is ids
    assert base.item_ids == {}  # the original is untouched
    with pytest.raises(TypeError, match="nope"):
        base.with_sent(sent, nope=1)
    with pytest.raises(TypeError, match="sent_hash"):
        base.with_sent(sent, sent_hash="x")
    with pytest.raises(TypeError):
        base.with_sent(None, nope=1)
