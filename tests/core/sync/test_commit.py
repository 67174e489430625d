"""Group commit: the records of one event loop turn share a transaction; a bad one fails alone."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from listsync.errors import StateStoreError
from listsync.sync import AuditEntry, ListingState, SQLiteStateStore, StateKey
from listsync.sync._commit import GroupCommit


class CountingStore:
    """The SQLite store, counting the `transaction()` blocks opened on it (not the ones its
    own saves open); a save of listing `BAD` fails."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStateStore(path)
        self.blocks = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.blocks += 1
        with self.inner.transaction():
            yield

    def save(self, state: ListingState, **kwargs: Any) -> int | None:
        if state.external_ref == "BAD":
            raise ValueError("cannot record BAD")
        return self.inner.save(state, **kwargs)

    def get(self, key: StateKey) -> ListingState | None:
        return self.inner.get(key)


def _state(ref: str) -> ListingState:
    return ListingState("acme", "default", ref, remote_id=f"R-{ref}")


async def _write(commits: GroupCommit, ref: str) -> int | None:
    """One listing writing one record, once every listing of the test counts as a writer."""
    with commits.writing():
        await asyncio.sleep(0)
        audit = AuditEntry(StateKey("acme", "default", ref), "create", "ok")
        return await commits.save(_state(ref), audit=audit)


async def test_records_of_one_turn_are_committed_together(tmp_path: Path) -> None:
    """Saves made by several listings in the same turn of the event loop are committed in one
    transaction, and each caller resumes with its own result once it is committed."""
    store = CountingStore(tmp_path / "s.sqlite")
    commits = GroupCommit(store)  # type: ignore[arg-type]  # only what GroupCommit uses
    refs = [f"L-{n}" for n in range(5)]
    assert await asyncio.gather(*(_write(commits, r) for r in refs)) == [None] * 5
    assert store.blocks == 1
    assert [store.get(s.key).remote_id for s in map(_state, refs)] == [f"R-{r}" for r in refs]


async def test_a_listing_writing_alone_commits_at_once(tmp_path: Path) -> None:
    """With no other listing writing there is no one to wait for: the save is committed on
    its own, before `save` returns."""
    store = CountingStore(tmp_path / "s.sqlite")
    commits = GroupCommit(store)  # type: ignore[arg-type]  # only what GroupCommit uses
    with commits.writing():
        await commits.save(_state("L-1"))
    assert store.blocks == 0
    assert store.get(_state("L-1").key) is not None


async def test_a_record_that_fails_fails_its_own_listing_only(tmp_path: Path) -> None:
    """When one save of a group fails, the others are still recorded (each on its own) and
    only the listing that made the bad save gets the error."""
    store = CountingStore(tmp_path / "s.sqlite")
    commits = GroupCommit(store)  # type: ignore[arg-type]  # only what GroupCommit uses
    refs = ("L-1", "BAD", "L-2")
    results = await asyncio.gather(*(_write(commits, r) for r in refs), return_exceptions=True)
    assert store.blocks == 1
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], ValueError)
    assert store.get(_state("L-1").key) is not None
    assert store.get(_state("L-2").key) is not None
    assert store.get(_state("BAD").key) is None


async def test_a_failed_store_fails_every_write_of_the_group_at_once(tmp_path: Path) -> None:
    """When the store itself fails (here: its disk is full), every listing of the group gets
    that `StateStoreError` at once: no write is tried again on its own (each would only fail
    the same way, or wait for the same lock again)."""
    store = CountingStore(tmp_path / "s.sqlite")
    commits = GroupCommit(store)  # type: ignore[arg-type]  # only what GroupCommit uses
    pages = store.inner._db.execute("PRAGMA page_count").fetchone()[0]
    store.inner._db.execute(f"PRAGMA max_page_count = {pages}")  # no page can be added
    saves = 0
    save = store.save

    def counted(state: ListingState, **kwargs: Any) -> int | None:
        nonlocal saves
        saves += 1
        return save(state, **kwargs)

    store.save = counted  # type: ignore[method-assign]

    async def write(ref: str) -> int | None:
        with commits.writing():
            await asyncio.sleep(0)  # a record larger than the pages left
            return await commits.save(dataclasses.replace(_state(ref), error_message="x" * 9000))

    refs = [f"L-{n}" for n in range(4)]
    results = await asyncio.gather(*(write(r) for r in refs), return_exceptions=True)
    assert all(isinstance(r, StateStoreError) for r in results), results
    assert {str(r) for r in results} == {str(results[0])}
    assert "full disk" in str(results[0])
    assert saves == 1  # the group's first write failed; none was retried


async def test_records_of_two_consecutive_turns_are_committed_together(tmp_path: Path) -> None:
    """A save made in the turn after the group's first one joins the same transaction (the
    answers read in that turn add their records to it): one commit, not two, and each caller
    resumes once it is committed."""
    store = CountingStore(tmp_path / "s.sqlite")
    commits = GroupCommit(store)  # type: ignore[arg-type]  # only what GroupCommit uses

    async def write(ref: str, turns: int) -> int | None:
        with commits.writing():
            for _ in range(turns):
                await asyncio.sleep(0)
            audit = AuditEntry(StateKey("acme", "default", ref), "create", "ok")
            return await commits.save(_state(ref), audit=audit)

    refs = ["L-1", "L-2", "L-3"]
    results = await asyncio.gather(write("L-1", 1), write("L-2", 2), write("L-3", 2))
    assert list(results) == [None, None, None]
    assert store.blocks == 1
    stored = [store.get(s.key) for s in map(_state, refs)]
    assert [s.remote_id if s else None for s in stored] == [f"R-{r}" for r in refs]
