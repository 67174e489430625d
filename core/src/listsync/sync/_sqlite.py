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

The sent projection lives in `sent_projection`, apart from the state row: row 0 is the whole
projection, rows 1..n the steps recorded after it (see `listsync.sync._sent`), and the state
row's `sent_base` / `sent_steps` name that position. A save whose `ListingState.sent_record`
is one step past the stored position writes that step and updates the small state row, with
the stored position as the UPDATE's condition; any other save (a converged listing, a
position the database has moved away from) writes the projection whole and drops the steps.

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

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from listsync.adapter import Operation, ProjectedItem
from listsync.errors import ConfigurationError, StateStoreError
from listsync.sync import _sqlrows as rows
from listsync.sync import _sqlschema as sql
from listsync.sync._lease import FileLease
from listsync.sync._sent import SentRecord, fold_steps, new_base
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
from listsync.sync._store import AuditEntry, Intent, ListingState, StateKey

if TYPE_CHECKING:
    from listsync.sync._postgres import PostgresStateStore

__all__ = ["SCHEMA_VERSION", "SQLiteStateStore", "open_state_store"]

P = ParamSpec("P")
R = TypeVar("R")
_IN_LIMIT = 500
"""External refs per `records_for` statement (SQLite allows 999 parameters at the least)."""
_READ_ERRORS = (sqlite3.Error, OSError, ValueError, KeyError, TypeError)
"""What reading a record can raise: the file's errors, and a record that does not parse."""


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


def _guarded(
    method: Callable[Concatenate[SQLiteStateStore, P], R],
) -> Callable[Concatenate[SQLiteStateStore, P], R]:
    """Reads: a failure of the file, or a record that does not parse, is a `StateStoreError`."""

    def guarded(self: SQLiteStateStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except _READ_ERRORS as exc:
            raise self._error(exc) from exc

    update_wrapper(guarded, method)
    return guarded


def _writing(
    method: Callable[Concatenate[SQLiteStateStore, P], R],
) -> Callable[Concatenate[SQLiteStateStore, P], R]:
    """Writes: refused on a store that cannot take them; a failure breaks the store."""

    def writing(self: SQLiteStateStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._refusal is not None:
            raise self._refusal
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError, StateStoreError) as exc:
            raise self._broke(exc) from exc

    update_wrapper(writing, method)
    return writing


class SQLiteStateStore:
    """`StateStore` over one SQLite file. Safe to share between threads (one lock).

    Args:
        path: the database file, or `":memory:"` (tests and embedding; state is lost on close).
        create: create the file and its folders (0700 folders, 0600 file) when missing; with
            False nothing is created, and a missing file is an empty store refusing writes.
        busy_timeout: seconds a write waits for another process's write lock before the
            store gives up (`StateStoreError`).
    """

    busy_timeout: float = 10.0

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

    def _broke(self, exc: BaseException) -> StateStoreError:
        """A write failed: this error now answers every later write at once."""
        error = self._error(exc)
        self._refusal = error
        return error

    @property
    @_guarded
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

    @_writing
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

    # -- listing state -----------------------------------------------------------------------
    @_guarded
    def get(self, key: StateKey) -> ListingState | None:
        with self._lock:
            row = self._db.execute(sql.GET_STATE, key).fetchone()
            return None if row is None else self._read(row)

    @_guarded
    def records(
        self, external_ref: str | None = None, *, portal: str | None = None
    ) -> Iterator[ListingState]:
        where, args = [], []
        if external_ref is not None:
            where.append("s.external_ref = ?")
            args.append(external_ref)
        if portal is not None:
            where.append("s.portal = ?")
            args.append(portal)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        query = f"{sql.SELECT_STATE}{clause} ORDER BY s.portal, s.account, s.external_ref"
        with self._lock:
            found = self._db.execute(query, args).fetchall()
            states = [self._read(row) for row in found]
        return iter(states)

    @_guarded
    def records_for(self, external_refs: Iterable[str]) -> dict[str, list[ListingState]]:
        """`records(ref)` for many listings with one statement per `_IN_LIMIT` of them:
        external_ref -> its records (in the order `records` gives them)."""
        refs = list(dict.fromkeys(external_refs))
        found: dict[str, list[ListingState]] = {ref: [] for ref in refs}
        with self._lock:
            for start in range(0, len(refs), _IN_LIMIT):
                chunk = refs[start : start + _IN_LIMIT]
                marks = ", ".join("?" * len(chunk))
                query = (
                    f"{sql.SELECT_STATE} WHERE s.external_ref IN ({marks}) "
                    "ORDER BY s.portal, s.account, s.external_ref"
                )
                for row in self._db.execute(query, chunk).fetchall():
                    found[row[2]].append(self._read(row))
        return found

    @_writing
    def save(
        self,
        state: ListingState,
        *,
        audit: AuditEntry | None = None,
        clear_intent: int | None = None,
        intent: Intent | None = None,
    ) -> int | None:
        with self.transaction():
            self._write_state(state)
            if audit is not None:
                self._db.execute(sql.INSERT_AUDIT, rows.audit_to_row(audit))
            return self._journal(clear_intent, intent)

    def _write_state(self, state: ListingState) -> None:
        """The state row, and the sent projection as one step when that is exact (module
        docstring), else whole."""
        record = state.sent_record
        if (
            record is None
            or record.json is not state.sent_json
            or record.item_ids is not state.item_ids
        ):  # no record, or the state was changed without one: write it whole under a new id
            self._write_whole(state, new_base() if state.sent_json is not None else None)
            return
        if not record.new:
            stepped = record.step is not None
            position = (record.base, record.depth - 1 if stepped else record.depth)
            cursor = self._db.execute(sql.UPDATE_STATE, (*rows.small_row(state, record), *position))
            if cursor.rowcount == 1:
                if stepped:
                    self._db.execute(sql.INSERT_SENT, (*state.key, record.depth, record.step))
                return
        # Written whole: a new projection under its own id, a stored whole one under its id
        # too (every copy of position (id, 0) holds that very projection); any other under a
        # new id, so that no copy of a position the database left can match a later UPDATE.
        self._write_whole(state, record.base if record.depth == 0 else new_base())

    def _write_whole(self, state: ListingState, base: int | None) -> None:
        self._db.execute(sql.UPSERT_STATE, rows.state_to_row(state, base))
        self._db.execute(sql.DELETE_SENT, state.key)
        if state.sent_json is not None:
            self._db.execute(sql.INSERT_SENT, (*state.key, 0, state.sent_json))

    def _read(self, row: tuple[Any, ...]) -> ListingState:
        """A state read back; its steps are folded in (a listing a killed run left part-way)."""
        base, depth, whole = row[17:]
        item_ids: dict[str, str] = json.loads(row[5])
        if whole is None:
            return rows.state_from_row(row, None, item_ids, None)
        if depth == 0:
            return rows.state_from_row(row, whole, item_ids, SentRecord(base, 0, whole, item_ids))
        steps = [data for (data,) in self._db.execute(sql.SELECT_STEPS, row[:3])]
        sent, item_ids = fold_steps(whole, steps, item_ids)
        text = sent.model_dump_json()
        record = SentRecord(base, depth, text, item_ids, projection=sent)
        return rows.state_from_row(row, text, item_ids, record)

    # -- journal -------------------------------------------------------------------------------
    @_writing
    def add_intent(self, intent: Intent) -> int:
        with self._lock:  # one INSERT: durable when execute returns, unless in `transaction()`
            if not self._db.in_transaction:
                self._check_identity()
            values = (*intent.key, *rows.intent_values(intent))
            cursor = self._db.execute(sql.INSERT_INTENT, values)
        assert cursor.lastrowid is not None  # noqa: S101  (sqlite always sets it after INSERT)
        return cursor.lastrowid

    def _journal(self, clear_intent: int | None, intent: Intent | None) -> int | None:
        """Clear one intent and journal another (in place: one row written, not two)."""
        if intent is not None and clear_intent is not None:
            values = (*rows.intent_values(intent), clear_intent, *intent.key)
            if self._db.execute(sql.REUSE_INTENT, values).rowcount == 1:
                return clear_intent
        if clear_intent is not None:
            self._db.execute(sql.DELETE_INTENT, (clear_intent,))
        if intent is None:
            return None
        cursor = self._db.execute(sql.INSERT_INTENT, (*intent.key, *rows.intent_values(intent)))
        return cursor.lastrowid

    @_guarded
    def intents(self, key: StateKey) -> list[Intent]:
        with self._lock:
            found = self._db.execute(
                "SELECT id, op_json, item_json, run_id, created_at FROM journal "
                "WHERE portal = ? AND account = ? AND external_ref = ? ORDER BY id",
                tuple(key),
            ).fetchall()
        return [
            Intent(
                key=key,
                op=Operation.model_validate_json(op_json),
                item=ProjectedItem.model_validate_json(item_json) if item_json else None,
                run_id=run_id,
                created_at=dt.datetime.fromisoformat(created_at),
                id=intent_id,
            )
            for intent_id, op_json, item_json, run_id, created_at in found
        ]

    @_writing
    def clear_intent(self, intent_id: int) -> None:
        with self._lock:
            if not self._db.in_transaction:
                self._check_identity()
            self._db.execute(sql.DELETE_INTENT, (intent_id,))

    # -- audit -----------------------------------------------------------------------------------
    @_guarded
    def audit(
        self, external_ref: str, *, portal: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        query = (
            "SELECT at, run_id, portal, account, external_ref, operation, outcome, request_id, "
            "message FROM audit WHERE external_ref = ?"
        )
        args: list[Any] = [external_ref]
        if portal is not None:
            query += " AND portal = ?"
            args.append(portal)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            found = self._db.execute(query, args).fetchall()
        return [
            AuditEntry(
                key=StateKey(p, a, r),
                operation=op,
                outcome=outcome,
                run_id=run_id,
                request_id=request_id,
                message=message,
                at=dt.datetime.fromisoformat(at),
            )
            for at, run_id, p, a, r, op, outcome, request_id, message in reversed(found)
        ]

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
