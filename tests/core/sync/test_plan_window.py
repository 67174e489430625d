"""The planner looks the records of many listings up together (`records_for`), with the same
entries as one look-up per listing: `LOOKAHEAD` lines of a `read_listings` reader at a time,
from the refs written on them before they are parsed; `WINDOW` parsed listings of any other
source."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from acme_portal import listing_data

from listsync.adapter import Projection, TargetState
from listsync.io import read_listings
from listsync.sync import Action, ListingState, Planner, SQLiteStateStore
from listsync.sync import _sqlite as sqlite_store
from listsync.sync._plan import LOOKAHEAD, WINDOW
from listsync.syndicator import Syndicator


class OneByOne:
    """A store that can only look listings up one at a time (counts the look-ups)."""

    def __init__(self, inner: SQLiteStateStore) -> None:
        self.inner = inner
        self.single = 0

    def records(self, external_ref: str | None = None, **kw: Any) -> Iterator[ListingState]:
        self.single += 1
        return self.inner.records(external_ref, **kw)

    def __getattr__(self, name: str) -> Any:
        if name == "records_for":
            raise AttributeError(name)
        return getattr(self.inner, name)


class Batched(OneByOne):
    def __init__(self, inner: SQLiteStateStore) -> None:
        super().__init__(inner)
        self.batches: list[int] = []

    def records_for(self, external_refs: Iterable[str]) -> Mapping[str, list[ListingState]]:
        refs = list(external_refs)
        self.batches.append(len(refs))
        return self.inner.records_for(refs)


def seeded(path: Path) -> SQLiteStateStore:
    store = SQLiteStateStore(path)
    for n in range(0, 150, 3):  # every third listing was sent before, some with other fields
        sent = Projection(external_ref=f"P-{n}", fields={"n": n % 2}, target=TargetState.PUBLISHED)
        state = ListingState("acme", "default", f"P-{n}", remote_id=f"r-{n}")
        store.save(state.with_sent(sent))
    gone = Projection(external_ref="P-7", fields={}, target=TargetState.PUBLISHED)
    store.save(ListingState("acme", "default", "P-7", remote_id="r-7").with_sent(gone))
    return store


def source(tmp_path: Path) -> Path:
    lines = [json.dumps(listing_data(f"P-{n}")) for n in range(150)]
    lines[40] = '{"external_ref": "P-bad"}'  # an invalid line inside a window
    lines[7] = json.dumps(listing_data("P-7", portals=()))  # off the portal: a removal
    path = tmp_path / "listings.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def entries(planner: Planner, path: Path, *, reader: bool = False) -> list[tuple[Any, ...]]:
    """The planned entries of `path`, read by `read_listings` itself (`reader`) or through a
    plain generator of its items (so the planner cannot look ahead)."""
    items = read_listings(path) if reader else (item for item in read_listings(path))
    return [
        (e.line, e.external_ref, e.portal, e.account, e.action, getattr(e, "base_hash", None))
        for e in planner.stream(items)
    ]


def test_a_window_is_looked_up_at_once_with_the_same_plan(
    syndicator: Syndicator, tmp_path: Path
) -> None:
    store = seeded(tmp_path / "state.sqlite")
    path = source(tmp_path)
    batched, single = Batched(store), OneByOne(store)

    planned = entries(Planner(syndicator.pool, batched), path)
    expected = entries(Planner(syndicator.pool, single), path)

    assert planned == expected
    assert batched.single == 0
    # One look-up per window of WINDOW lines; P-bad (line 41) has no ref to look up.
    windows = [min(WINDOW, 150 - start) for start in range(0, 150, WINDOW)]
    windows[40 // WINDOW] -= 1
    assert batched.batches == windows
    assert single.single == 149
    assert ("P-7", Action.DELETE) in [(e[1], e[4]) for e in planned]  # found in the batch
    assert sum(1 for e in planned if e[5] is not None) == 51
    store.close()


def test_a_reader_is_looked_up_ahead_by_the_refs_on_its_lines(
    syndicator: Syndicator, tmp_path: Path
) -> None:
    """From a `read_listings` reader, the records of `LOOKAHEAD` lines are looked up with one
    statement before those lines are parsed: the refs written on them (the listings' own, the
    bad line's and the agency's, each once). The plan is the same as one look-up per listing."""
    store = seeded(tmp_path / "state.sqlite")
    path = source(tmp_path)
    batched, single = Batched(store), OneByOne(store)

    planned = entries(Planner(syndicator.pool, batched), path, reader=True)
    expected = entries(Planner(syndicator.pool, single), path)

    assert planned == expected
    assert batched.single == 0
    agency = listing_data("P-0")["agency"]["external_ref"]
    lines = [min(LOOKAHEAD, 150 - start) for start in range(0, 150, LOOKAHEAD)]
    assert batched.batches == [n + 1 for n in lines]  # + the agency's ref
    assert agency not in {e[1] for e in planned}
    store.close()


def test_a_ref_not_found_ahead_is_looked_up_on_its_own(
    syndicator: Syndicator, tmp_path: Path
) -> None:
    """A ref written with a JSON escape is not among the refs read ahead: that listing's records
    are looked up when it is planned, and its plan is the same (P-3 was sent before)."""
    store = seeded(tmp_path / "state.sqlite")
    path = tmp_path / "listings.jsonl"
    escaped = json.dumps(listing_data("P-3")).replace('"P-3"', '"\\u0050-3"', 1)
    path.write_text("\n".join([json.dumps(listing_data("P-0")), escaped]) + "\n")
    batched, single = Batched(store), OneByOne(store)

    planned = entries(Planner(syndicator.pool, batched), path, reader=True)

    assert planned == entries(Planner(syndicator.pool, single), path)
    assert [e[1] for e in planned] == ["P-0", "P-3"]
    assert planned[1][5] is not None  # P-3's record was found: its digest is the base
    assert batched.single == 1
    store.close()


def test_records_for_answers_as_records(tmp_path: Path) -> None:
    store = seeded(tmp_path / "state.sqlite")
    refs = ["P-7", "P-3", "P-4", "P-3", "P-nothing", "P-0"]

    found = store.records_for(refs)

    def keyed(states: Iterable[ListingState]) -> list[tuple[Any, ...]]:
        return [(s.portal, s.account, s.external_ref, s.remote_id, s.sent_hash) for s in states]

    assert list(found) == ["P-7", "P-3", "P-4", "P-nothing", "P-0"]
    for ref in refs:
        assert keyed(found[ref]) == keyed(store.records(ref))
    assert found["P-nothing"] == []
    store.close()


def test_windows_of_near_sizes_share_one_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: `records_for` of 17 to 32 refs runs one statement text (kept prepared by
    `sqlite3`), not one per size; the answers are the same as `records`'."""
    store = seeded(tmp_path / "state.sqlite")
    sizes: list[int] = []
    select_in = sqlite_store._select_in

    def recorded(count: int) -> str:
        sizes.append(count)
        return select_in(count)

    monkeypatch.setattr(sqlite_store, "_select_in", recorded)
    for n in (17, 25, 32):
        refs = [f"P-{i}" for i in range(n)]
        found = store.records_for(refs)
        assert {ref: len(found[ref]) for ref in refs} == {
            ref: len(list(store.records(ref))) for ref in refs
        }
    assert sizes == [32, 32, 32]
    store.close()
