"""The planner looks the records of a window of listings up together (`records_for`), with the
same entries as one look-up per listing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from acme_portal import listing_data

from listsync.adapter import Projection, TargetState
from listsync.io import read_listings
from listsync.sync import Action, ListingState, Planner, SQLiteStateStore
from listsync.sync._plan import WINDOW
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

    def records_for(self, external_refs: Iterable[str]) -> dict[str, list[ListingState]]:
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


def entries(planner: Planner, path: Path) -> list[tuple[Any, ...]]:
    return [
        (e.line, e.external_ref, e.portal, e.account, e.action, getattr(e, "base_hash", None))
        for e in planner.stream(read_listings(path))
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
