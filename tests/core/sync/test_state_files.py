"""The SQLite store's file: opening without creating, modes, damage as one `StateStoreError`,
race-free start-up and migration, the writer lease, a store deleted while in use."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from listsync.adapter import Projection
from listsync.errors import ConfigurationError, StateLockedError, StateStoreError
from listsync.sync import SCHEMA_VERSION, ListingState, SQLiteStateStore, StateKey, open_state_store
from listsync.sync._lease import writer_lease
from listsync.sync._sqlschema import MIGRATIONS

KEY = StateKey("acme", "default", "L-1")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- opening -------------------------------------------------------------------------------
def test_opening_to_read_creates_nothing(tmp_path: Path) -> None:
    """`create=False` (status, plan, validate): a missing store and its missing folder stay
    missing; the store answers nothing and refuses writes and the lease."""
    url = f"sqlite:///{tmp_path}/nope/state.sqlite"
    store = open_state_store(url, create=False)
    assert not store.exists
    assert list(store.records()) == []
    assert store.get(KEY) is None
    assert store.audit("L-1") == []
    with pytest.raises(StateStoreError, match="does not exist"):
        store.save(ListingState(*KEY))
    with pytest.raises(StateStoreError, match="does not exist"), store.writer("run"):
        pass
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_opening_an_existing_store_to_read_finds_its_records(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    open_state_store(f"sqlite:///{path}").save(ListingState(*KEY, remote_id="R1"))
    store = open_state_store(f"sqlite:///{path}", create=False)
    assert store.exists
    assert [s.remote_id for s in store.records()] == ["R1"]


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///", "sqlite:///  "])
def test_urls_that_keep_nothing_are_refused_for_writing(url: str) -> None:
    """`:memory:` forgets every listing sent when the run ends; no path names no file. Both
    are `StateStoreError`s, so the CLI exits 2 (a `ConfigurationError`)."""
    with pytest.raises(
        StateStoreError, match=re.escape("sqlite:///listsync-state.sqlite")
    ) as caught:
        open_state_store(url)
    assert isinstance(caught.value, ConfigurationError)


def test_memory_is_an_empty_store_for_reading() -> None:
    assert list(open_state_store("sqlite:///:memory:", create=False).records()) == []


def test_created_folders_are_0700_and_files_0600(tmp_path: Path) -> None:
    """Folders listsync creates (each missing level) are 0700; the database and the WAL
    files next to it are 0600, whatever the umask."""
    old = os.umask(0)
    try:
        store = open_state_store(f"sqlite:///{tmp_path}/a/b/state.sqlite")
        store.save(ListingState(*KEY))
    finally:
        os.umask(old)
    assert (_mode(tmp_path / "a"), _mode(tmp_path / "a" / "b")) == (0o700, 0o700)
    names = sorted(p.name for p in (tmp_path / "a" / "b").iterdir())
    assert names == ["state.sqlite", "state.sqlite-shm", "state.sqlite-wal"]
    assert {_mode(tmp_path / "a" / "b" / n) for n in names} == {0o600}


# -- damage --------------------------------------------------------------------------------
def _seeded(path: Path) -> None:
    store = SQLiteStateStore(path)
    for n in range(200):
        store.save(ListingState("acme", "default", f"L-{n}", error_message="x" * 200))
    store.close()


DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "empty file": (lambda p: os.truncate(p, 0), "is an empty file"),
    "text file": (lambda p: p.write_text("ref,price\n" * 300), "file is not a database"),
    "truncated": (lambda p: os.truncate(p, 4096 * 2), "malformed"),
    "other tables": (
        lambda p: (p.unlink(), sqlite3.connect(p).execute("CREATE TABLE t (x)")),
        "not a listsync state store (it holds other tables: t)",
    ),
    "a table missing": (
        lambda p: sqlite3.connect(p).execute("DROP TABLE journal"),
        "not a listsync state store (tables missing: journal)",
    ),
}


def _use(path: Path, *, create: bool) -> None:
    """Open, read every record, take the lease."""
    store = SQLiteStateStore(path, create=create)
    list(store.records())
    with store.writer("run"):
        pass


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damage_is_one_state_store_error_naming_the_file(kind: str, tmp_path: Path) -> None:
    """Opened for writing or for reading, a damaged store is never started afresh: one
    `StateStoreError` whose single line names the file and says what to do."""
    path = tmp_path / "state.sqlite"
    _seeded(path)
    damage, words = DAMAGE[kind]
    damage(path)
    for create in (True, False):
        with pytest.raises(StateStoreError) as caught:
            _use(path, create=create)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"state store {path} ")
        assert words in message
        assert caught.value.path == str(path)


def test_corrupt_pages_stop_the_lease_before_anything_is_sent(tmp_path: Path) -> None:
    """Pages that no longer read back are found when a run takes the lease (a full check),
    not halfway through the run."""
    path = tmp_path / "state.sqlite"
    _seeded(path)
    data = bytearray(path.read_bytes())
    for page in range(4096 * 2, len(data), 4096):
        data[page + 8 : page + 40] = b"\xab" * 32
    path.write_bytes(bytes(data))
    store = SQLiteStateStore(path)
    with (
        pytest.raises(StateStoreError, match=r"is damaged \(.+\): restore it from a backup"),
        store.writer("run"),
    ):
        pass


def test_a_record_that_does_not_parse_is_a_state_store_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path)
    store.save(ListingState(*KEY))
    sqlite3.connect(path).execute("UPDATE listing_state SET issues = '[{'").connection.commit()
    with pytest.raises(StateStoreError, match="a record cannot be read"):
        store.get(KEY)


def test_sqlite_errors_never_escape(tmp_path: Path) -> None:
    """Even a misuse (a closed connection) comes out as a `StateStoreError`."""
    store = SQLiteStateStore(tmp_path / "state.sqlite")
    store._db.close()
    for call in (lambda: store.get(KEY), lambda: store.save(ListingState(*KEY)), store.audit):
        with pytest.raises(StateStoreError):
            call("L-1") if call is store.audit else call()  # type: ignore[operator]


def test_a_full_disk_breaks_writes_at_once_but_reads_go_on(tmp_path: Path) -> None:
    """A failed write (here SQLITE_FULL) answers every later write at once with the same
    error, so a run stops instead of failing each listing slowly; reads still work."""
    store = SQLiteStateStore(tmp_path / "state.sqlite")
    store.save(ListingState(*KEY, remote_id="R1"))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = ListingState("acme", "default", "L-2", error_message="x" * 20000)
    with pytest.raises(StateStoreError, match="is on a full disk") as first:
        store.save(big)
    with pytest.raises(StateStoreError) as second:
        store.save(ListingState(*KEY))
    assert second.value is first.value
    assert store.get(KEY).remote_id == "R1"  # type: ignore[union-attr]


def test_a_write_lock_held_too_long_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path, busy_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(
            StateStoreError, match=r"locked by another process for more than 0\.1 s"
        ):
            store.save(ListingState(*KEY))
    finally:
        other.execute("ROLLBACK")


def test_newer_schema_stays_a_clean_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _seeded(path)
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateStoreError, match="newer than this listsync"):
        SQLiteStateStore(path)


# -- deleted while in use ------------------------------------------------------------------
def test_a_store_deleted_while_in_use_is_written_back_and_stops_the_run(tmp_path: Path) -> None:
    """The commit after the file (and its WAL) were deleted puts everything the open store
    holds back at its path, including that commit, then refuses further writes: nothing
    recorded is lost, and the next run starts from it instead of creating everything again."""
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path)
    store.save(ListingState(*KEY, remote_id="R1"))
    for each in tmp_path.iterdir():
        each.unlink()
    with pytest.raises(StateStoreError, match="was deleted or replaced") as caught:
        store.save(ListingState("acme", "default", "L-2", remote_id="R2"))
    assert f"wrote what it held to {path} " in str(caught.value)
    with pytest.raises(StateStoreError, match="was deleted"):
        store.save(ListingState("acme", "default", "L-3"))
    reopened = SQLiteStateStore(path)
    assert [s.remote_id for s in reopened.records()] == ["R1", "R2"]
    assert _mode(path) == 0o600


def test_a_store_replaced_while_in_use_is_written_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path)
    store.save(ListingState(*KEY, remote_id="R1"))
    SQLiteStateStore(tmp_path / "other.sqlite").close()
    for each in tmp_path.glob("state.sqlite*"):
        each.unlink()
    (tmp_path / "other.sqlite").rename(path)  # another, empty store took its place
    with pytest.raises(StateStoreError, match=r"put .+\.recovered-\d+T\d+ back at"):
        store.save(ListingState("acme", "default", "L-2", remote_id="R2"))
    (rescued,) = tmp_path.glob("state.sqlite.recovered-*[0-9]")
    assert [s.remote_id for s in SQLiteStateStore(rescued).records()] == ["R1", "R2"]
    assert list(SQLiteStateStore(path).records()) == []


# -- start-up and migration ----------------------------------------------------------------
def _at_once(count: int, open_store: Callable[[], object]) -> list[BaseException]:
    """`open_store` in `count` threads released together; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            open_store()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_many_processes_creating_one_store_at_once(tmp_path: Path) -> None:
    """Connections opening a store that does not exist yet, all at the same moment: each
    ends up on the one complete database (no `database is locked`, no `table ... already
    exists`, no empty file)."""
    path = tmp_path / "new" / "state.sqlite"
    assert _at_once(12, lambda: SQLiteStateStore(path).save(ListingState(*KEY))) == []
    assert SQLiteStateStore(path).schema_version == SCHEMA_VERSION
    assert sorted(p.name for p in path.parent.iterdir() if ".new" in p.name) == []


def test_many_processes_migrating_one_old_store_at_once(tmp_path: Path) -> None:
    """An old store opened by many at once is migrated exactly once (the version is read
    again under the write lock)."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")  # type: ignore[operator]
    db.close()
    assert _at_once(12, lambda: SQLiteStateStore(path)) == []
    assert SQLiteStateStore(path).schema_version == SCHEMA_VERSION


# -- the writer lease ----------------------------------------------------------------------
def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    first, second = SQLiteStateStore(path), SQLiteStateStore(path)
    with first.writer("run-1"):
        with pytest.raises(StateLockedError) as caught, second.writer("run-2"):
            pass
        with first.writer("run-1"):  # re-entrant for its holder
            pass
    holder = caught.value.holder
    assert holder is not None
    assert (holder["pid"], holder["run_id"]) == (os.getpid(), "run-1")
    message = str(caught.value)
    assert f"pid {os.getpid()} on host " in message
    assert "run run-1, started 20" in message
    assert isinstance(caught.value, StateStoreError)
    with second.writer("run-2"):  # released: the next run may take it
        pass
    assert (tmp_path / "state.sqlite.lock").read_text() == ""  # the holder's details erased
    assert _mode(tmp_path / "state.sqlite.lock") == 0o600


async def test_a_waiting_run_gets_the_lease_once_it_is_free(tmp_path: Path) -> None:
    """`writer_lease(wait=...)` polls without blocking the event loop: the holder, running
    on the same loop, finishes and the waiting run goes ahead."""
    path = tmp_path / "state.sqlite"
    first, second = SQLiteStateStore(path), SQLiteStateStore(path)
    order = []

    async def hold() -> None:
        async with writer_lease(first, "run-1", wait=0):
            order.append("first holds")
            await asyncio.sleep(0.2)
            order.append("first done")

    async def wait() -> None:
        await asyncio.sleep(0.05)
        async with writer_lease(second, "run-2", wait=60):
            order.append("second holds")

    await asyncio.gather(hold(), wait())
    assert order == ["first holds", "first done", "second holds"]
    with pytest.raises(StateLockedError):
        async with writer_lease(first, "run-3", wait=0), writer_lease(second, "run-4", wait=0):
            pass


def test_the_lease_of_a_killed_process_is_free(tmp_path: Path) -> None:
    """The operating system releases the lock when its holder dies (SIGKILL included)."""
    path = tmp_path / "state.sqlite"
    SQLiteStateStore(path).close()
    holder = subprocess.Popen(  # noqa: S603  (this test's own one-liner)
        [
            sys.executable,
            "-c",
            "import sys; from listsync.sync import SQLiteStateStore; "
            "s = SQLiteStateStore(sys.argv[1]); lease = s.writer('dead'); lease.__enter__(); "
            "print('held', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    store = SQLiteStateStore(path)
    with (
        pytest.raises(StateLockedError, match=f"pid {holder.pid} on host .+, run dead"),
        store.writer("run"),
    ):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    with store.writer("run"):
        pass


# -- schema 4: refs out of fields --------------------------------------------------------------
def test_schema_3_references_in_fields_move_to_refs(tmp_path: Path) -> None:
    """Hemnet's agency stored as `fields._agency` (schema 3) reads back as `refs.agency`: a
    whole projection keeps its digest in step (converged stays converged), a record left
    part-way by a killed run is folded whole first (its steps and item ids kept)."""
    path = tmp_path / "v3.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        db.executescript(migration)  # type: ignore[arg-type]
    db.execute("PRAGMA user_version = 3")
    agency = {"name": "Acme", "ref": "A-1"}
    old = {"external_ref": "L-1", "fields": {"price": 1, "_agency": agency}}
    row = (
        "INSERT INTO listing_state (portal, account, external_ref, remote_id, sent_hash, "
        "item_ids, created_at, updated_at, sent_base, sent_steps) VALUES "
        "('hemnet', 'default', ?, 'R', ?, ?, '2026-01-01T00:00:00+00:00', "
        "'2026-01-01T00:00:00+00:00', 7, ?)"
    )
    sent = "INSERT INTO sent_projection VALUES ('hemnet', 'default', ?, ?, ?)"
    whole = Projection.model_validate(old)
    db.execute(row, ("L-1", whole.digest(), "{}", 0))
    db.execute(sent, ("L-1", 0, whole.model_dump_json()))
    part = Projection.model_validate({**old, "external_ref": "L-2"})
    db.execute(row, ("L-2", None, '{"a": "I-a"}', 1))
    db.execute(sent, ("L-2", 0, part.model_dump_json()))
    db.execute(sent, ("L-2", 1, '{"fields": {"price": 2}, "ids": {"b": "I-b"}}'))
    db.commit()
    db.close()

    store = SQLiteStateStore(path)
    assert store.schema_version == SCHEMA_VERSION
    first = store.get(StateKey("hemnet", "default", "L-1"))
    assert first is not None
    assert first.sent is not None
    assert (first.sent.fields, first.sent.refs) == ({"price": 1}, {"agency": agency})
    assert first.sent_hash == first.sent.digest()
    second = store.get(StateKey("hemnet", "default", "L-2"))
    assert second is not None
    assert second.sent is not None
    assert (second.sent.fields, second.sent.refs) == ({"price": 2}, {"agency": agency})
    assert second.item_ids == {"a": "I-a", "b": "I-b"}
    assert second.sent_hash is None  # part-way: never "nothing to do"
    steps = sqlite3.connect(path).execute("SELECT count(*) FROM sent_projection WHERE seq > 0")
    assert steps.fetchone() == (0,)


def test_a_log_left_by_a_deleted_store_is_not_read_as_a_new_one(tmp_path: Path) -> None:
    """The database deleted without its write-ahead log (`rm state.sqlite`): SQLite would
    read that log as part of a new database at the same path, so none is created there."""
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path)
    store.save(ListingState(*KEY, remote_id="R1"))
    path.unlink()
    with pytest.raises(StateStoreError, match="is missing but its write-ahead log"):
        SQLiteStateStore(path)
    store.close()
    for name in ("state.sqlite-wal", "state.sqlite-shm"):  # as the message says
        (tmp_path / name).unlink(missing_ok=True)
    assert list(SQLiteStateStore(path).records()) == []
