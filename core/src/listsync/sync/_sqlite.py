"""The default state store: one SQLite file (stdlib sqlite3), WAL, created on first use.

The schema is versioned (`_sqlschema.py`): an old file is upgraded in place when opened, in
one `BEGIN IMMEDIATE` transaction that reads the version again once it holds the write lock,
so two processes opening an old or new file at once never both migrate it.

Durability: WAL with `synchronous=NORMAL` makes every commit survive a killed process (SIGKILL)
without an fsync per commit; only a power loss can lose the last commits. Each `save` is one
transaction holding the state row, its audit entry and the journal changes, so the cost of a
recorded operation is one commit (`add_intent` alone is its own transaction in autocommit
mode, committed when `execute` returns); the engine's `transaction()` blocks hold the saves
of many listings (group commit, `_commit.py`).

The sent projection lives apart from the state row: whole in `sent_projection`, and one
step per operation in that operation's audit row (`_sqlbase.py`, `listsync.sync._sent`); the
state row's `sent_base` / `sent_steps` name the position. A save whose
`ListingState.sent_record` is one step past the stored position updates the small state row,
with the stored position as the UPDATE's condition, and writes the step with the audit
entry; any other save (a converged listing, a position the database has moved away from)
writes the projection whole under a new base. What the two stores share (statements, rows,
failures) is in `_sqlbase.RowStore`.

Failures: every error of the file escapes as one `StateStoreError` naming the file and what
to do (`_sqlfile.py`), never as a `sqlite3` exception. After a write failed, every later
write fails at once with the same error (a run stops instead of waiting for a locked or full
file again per listing); open the store again once the cause is fixed. Each commit checks
that the file is still the one opened: a store deleted while a run used it is written back
to its path (or beside it when another file took its place) before the run is stopped.

One writer: `writer()` is the run's lease on the store (`_lease.py`), a lock file next to
the database that the operating system releases when the process dies.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from listsync.errors import ConfigurationError, StateStoreError
from listsync.sync import _sqlschema as sql
from listsync.sync._lease import FileLease
from listsync.sync._sqlbase import RowStore, guarded, writing
from listsync.sync._sqlfile import (
    MEMORY,
    connect,
    create_file,
    damaged,
    file_identity,
    path_of_url,
    rescue,
    store_error,
)
from listsync.sync._sqlschema import SCHEMA_VERSION
from listsync.sync._store import StateKey

if TYPE_CHECKING:
    from listsync.sync._postgres import PostgresStateStore

__all__ = ["SCHEMA_VERSION", "SQLiteStateStore", "open_state_store"]

_IN_LIMIT = 500
"""External refs per `records_for` statement (SQLite allows 999 parameters at the least)."""
_IN_STEP = 16
"""`records_for` rounds the number of refs up to a multiple of this (repeating the last):
windows of varying size then share a few statement texts, which `sqlite3` keeps prepared,
instead of compiling a new statement for most windows."""


@cache
def _select_in(count: int) -> str:
    """The state rows of `count` external refs (made once per count: the planner looks a window
    up with the same statement every time, and `sqlite3` finds its prepared form by the text)."""
    marks = ", ".join("?" * count)
    return f"{sql.SELECT_STATE} WHERE s.external_ref IN ({marks}){sql.ORDER}"


def open_state_store(
    url: str, *, create: bool = True, auto_migrate: bool = False
) -> SQLiteStateStore | PostgresStateStore:
    """Open the store named by a URL: `sqlite:///relative/path` or `sqlite:////abs/path`, or
    `postgresql://user@host/db` (`listsync.sync._postgres`, `pip install listsync[postgres]`;
    `auto_migrate` migrates its schema when it is behind, see `listsync state upgrade`).

    Args:
        url: the state URL.
        create: create the file (and its folders) when missing, for commands that write;
            `sqlite:///:memory:` is refused then, since it would forget every listing sent.
            With False (`status`, `plan`, `validate`) nothing is ever created: a missing file
            opens as an empty store (`exists` is False) that refuses writes, and
            `sqlite:///:memory:` is an empty store too.

    Raises:
        ConfigurationError: an unsupported URL.
        StateStoreError: no path, `:memory:` with `create`, or a file that cannot be used.
    """
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from listsync.sync._postgres import PostgresStateStore  # noqa: PLC0415  (optional)
        except ImportError as exc:
            raise ConfigurationError(
                f"a PostgreSQL state store needs psycopg ({exc.name} is not installed): "
                "pip install 'listsync[postgres]'",
                key="state.url",
            ) from None
        return PostgresStateStore(url, create=create, auto_migrate=auto_migrate)
    return SQLiteStateStore(path_of_url(url, create=create), create=create)


class SQLiteStateStore(RowStore):
    """`StateStore` over one SQLite file. Safe to share between threads (one lock).

    Args:
        path: the database file, or `":memory:"` (tests and embedding; state is lost on close).
        create: create the file and its folders (0700 folders, 0600 file) when missing; with
            False nothing is created, and a missing file is an empty store refusing writes.
        busy_timeout: seconds a write waits for another process's write lock before the
            store gives up (`StateStoreError`).
    """

    busy_timeout: float = 10.0
    sql: ClassVar[ModuleType] = sql
    READ_ERRORS = (sqlite3.Error, OSError, ValueError, KeyError, TypeError)
    WRITE_ERRORS = (sqlite3.Error, OSError, StateStoreError)

    def __init__(
        self, path: str | Path, *, create: bool = True, busy_timeout: float | None = None
    ) -> None:
        self.path = str(path)
        if busy_timeout is not None:
            self.busy_timeout = busy_timeout
        if not self.path.strip():
            raise StateStoreError("the state store needs a file name", reason="no path")
        self._lock = threading.RLock()  # a save takes it again inside `transaction()`
        self._refusal: StateStoreError | None = None
        memory = self.path == MEMORY
        self.exists = memory or os.path.exists(self.path)
        if not self.exists:
            if create:
                create_file(self.path, self._initialise)
                self.exists = True
            else:
                self._refusal = StateStoreError(
                    f"state store {self.path} does not exist (opened to read only): run "
                    "`listsync apply` to create it",
                    path=self.path,
                    reason="missing",
                )
        where = self.path if self.exists else MEMORY  # a missing store answers from an empty one
        self._db = connect(where, busy_timeout=self.busy_timeout)
        self._identity = None if memory or not self.exists else file_identity(self.path)
        self._lease = (
            None if memory or not self.exists else FileLease(f"{self.path}.lock", self.path)
        )
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _initialise(self, db: sqlite3.Connection) -> None:
        """Build the current schema in a new database (`create_file`)."""
        sql.upgrade(db, 0, self.path)

    def _migrate(self) -> None:
        with self._lock:
            try:
                if sql.version(self._db) == SCHEMA_VERSION:
                    sql.check_tables(self._db, self.path)
                    return
                self._db.execute("BEGIN IMMEDIATE")
                try:  # read again under the write lock: another process may have migrated it
                    sql.upgrade(self._db, sql.version(self._db), self.path)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except (sqlite3.Error, OSError, ValueError, KeyError) as exc:
                raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> StateStoreError:
        return store_error(self.path, exc, busy_timeout=self.busy_timeout)

    @property
    @guarded
    def schema_version(self) -> int:
        with self._lock:
            return sql.version(self._db)

    # -- the run's lease -----------------------------------------------------------------------
    @contextmanager
    def writer(self, run_id: str | None = None, *, wait: float = 0.0) -> Iterator[None]:
        """Hold the store's writer lease for a run that applies (`StateStore.writer`).

        Once the lease is held, the store is checked before anything is sent: every page
        reads back (`PRAGMA quick_check`, one pass over the file) and a write commits (the
        file is writable, not locked by another program for longer than `busy_timeout`, and
        its disk not full). A damaged store thus stops a run before its first request.

        Raises:
            StateLockedError: another run holds it after `wait` seconds (it is named).
            StateStoreError: the store cannot be written, or is damaged.
        """
        if self._refusal is not None:
            raise self._refusal
        if self._lease is None:  # in memory: no other process can see this store
            yield
            return
        self._lease.acquire(run_id, wait=wait)
        try:
            self._check_identity()
            self._check_writable()
            yield
        finally:
            self._lease.release()

    @contextmanager
    def claim(self, key: StateKey) -> Iterator[bool]:
        """The lease on one listing (`StateStore.claim`): always held here, since the run
        holding `writer()` is the only one writing this store."""
        del key
        yield True

    @writing
    def _check_writable(self) -> None:
        with self._lock:
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(1)")]
            if problems != ["ok"]:  # the first problem, shortly: `On tree page 8 cell 5: ...`
                first = " ".join(problems[0].replace("*** in database main ***", "").split())
                raise damaged(self.path, first[:60])
            with self.transaction():  # the version written back: one page, one commit
                self._db.execute(f"PRAGMA user_version = {sql.version(self._db)}")

    def _check_identity(self) -> None:
        """The file at the store's path is still the one this store writes to.

        Raises:
            StateStoreError: it was deleted or replaced; what this store holds is written
                back first (to the path when it is free, else beside it).
        """
        if self._identity is None or file_identity(self.path) == self._identity:
            return
        where = rescue(self._db, self.path)
        self._refusal = StateStoreError(
            f"state store {self.path} was deleted or replaced while this run used it; "
            f"listsync wrote what it held to {where} and stopped: "
            + ("run again" if where == self.path else f"put {where} back at {self.path}"),
            path=self.path,
            reason="deleted while in use",
        )
        raise self._refusal

    # -- what `RowStore` runs its statements with --------------------------------------------
    def _select_for(self, refs: list[str]) -> Iterator[tuple[Any, ...]]:
        if len(refs) <= _IN_LIMIT:  # the planner's window: one statement
            size = -(-len(refs) // _IN_STEP) * _IN_STEP  # a few statement texts, each prepared once
            refs = refs + refs[-1:] * (size - len(refs))  # a repeated ref matches nothing more
            return iter(self._db.execute(_select_in(size), refs).fetchall())
        return self._select_chunks(refs)

    def _select_chunks(self, refs: list[str]) -> Iterator[tuple[Any, ...]]:
        for start in range(0, len(refs), _IN_LIMIT):
            chunk = refs[start : start + _IN_LIMIT]
            yield from self._db.execute(_select_in(len(chunk)), chunk).fetchall()

    def _insert_intent(self, values: tuple[Any, ...]) -> int:
        cursor = self._db.execute(sql.INSERT_INTENT, values)
        assert cursor.lastrowid is not None  # noqa: S101  (sqlite always sets it after INSERT)
        return int(cursor.lastrowid)

    def _before_autocommit(self) -> None:
        if not self._db.in_transaction:  # committed when execute returns: to the file opened
            self._check_identity()

    def close(self) -> None:
        """Close the connection (a failure to close is not worth stopping for: the WAL keeps
        every commit)."""
        with self._lock, suppress(sqlite3.Error):
            self._db.close()

    def transaction(self) -> _Transaction:
        """BEGIN ... COMMIT (ROLLBACK when the block raises), holding the store's lock; the
        writes inside join it rather than commit on their own."""
        return _Transaction(self)


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises; inside another one, nothing (the
    outer one commits). A class rather than `contextlib.contextmanager`: one per save."""

    def __init__(self, store: SQLiteStateStore) -> None:
        self._store = store
        self._outer = False

    def __enter__(self) -> None:
        store = self._store
        if store._refusal is not None:
            raise store._refusal
        store._lock.acquire()
        if not store._db.in_transaction:
            try:
                store._db.execute("BEGIN IMMEDIATE")
            except BaseException as exc:
                store._lock.release()
                if isinstance(exc, sqlite3.Error):
                    raise store._broke(exc) from exc
                raise
            self._outer = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        store = self._store
        try:
            if not self._outer:
                return
            if exc_type is not None:
                _rollback(store._db)
                return
            try:
                store._db.execute("COMMIT")
            except sqlite3.Error as error:
                _rollback(store._db)
                raise store._broke(error) from error
            store._check_identity()  # committed to the file opened: rescued if it is gone
        finally:
            store._lock.release()


def _rollback(db: sqlite3.Connection) -> None:
    """ROLLBACK when a transaction is still open (SQLite ends some failed ones itself)."""
    if db.in_transaction:
        with suppress(sqlite3.Error):  # the connection's own error is the one reported
            db.execute("ROLLBACK")
