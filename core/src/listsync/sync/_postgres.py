"""The PostgreSQL state store: many workers, on one machine or several, share one state.

    [state]
    url = "postgresql://listsync@db.internal/listsync"
    auto_migrate = false      # true: `listsync state upgrade` on first use

The store speaks to PostgreSQL through psycopg 3 (`pip install listsync[postgres]`), with one
connection per store, synchronous like the `StateStore` protocol: each call is one or a few
short statements on a server that is near (a loopback or LAN round trip is 0.05-0.5 ms), and
the engine's group commit (`_commit.py`) records the listings in flight in one transaction.
psycopg costs less CPU per operation than SQLAlchemy Core here (`benchmarks/store_cpu.py`),
so SQLAlchemy is used only by the alembic migrations.

Same semantics and statements as the SQLite store (`_sqlbase.RowStore` runs them for both):
a `save` is one transaction holding the state row, its audit row (the entry and the step in
the sent projection) and the journal changes; part-way states are recorded as steps after a
whole projection (`_sent.py`), conditional on the stored position; `transaction()` blocks
hold the saves of many listings. The tables (`_pgschema.py`) are made and migrated
by alembic (`listsync state upgrade`, or `auto_migrate`), never implicitly: a database that
was not migrated, or is at an older revision, is refused with the command to run.

Failures: every error of the server or the connection escapes as one `StateStoreError`
naming the database (without its password) and what to do; after a failed write the store
refuses every later write at once, like the SQLite store.

Writers: many processes may apply from one PostgreSQL store at once, so `writer()` takes no
store-wide lease (it checks that the store can be written). Instead, `claim(key)` is a
lease per (portal, account, listing): a session-level advisory lock keyed by a 64-bit hash
of the key, tried without waiting (`pg_try_advisory_lock`). The server releases it when the
holder's connection ends, however the holder ends (a SIGKILLed worker's socket is closed by
its kernel; a machine that vanished is noticed by TCP keepalives, set on the connection).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors

from listsync.errors import StateStoreError
from listsync.sync import _pgschema as sql
from listsync.sync._sqlbase import RowStore, guarded, writing
from listsync.sync._store import StateKey

__all__ = ["PostgresStateStore", "connect_error", "display_url", "lease_key"]

_UPGRADE = "run `listsync state upgrade`"


def display_url(url: str) -> str:
    """The URL without its password and query (which may hold one): for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://(unreadable URL)"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def lease_key(key: StateKey) -> int:
    """The advisory lock key of one listing on one portal account: a signed 64-bit hash."""
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__
    return text if len(text) <= 200 else f"{text[:197]}..."


def connect_error(url: str, exc: BaseException) -> StateStoreError:
    """The one-line `StateStoreError` for a failure of the PostgreSQL store at `url`."""
    if isinstance(exc, StateStoreError):
        return exc
    where = display_url(url)
    reason = _first_line(exc)
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate == "3D000":
        advice = "does not exist ({reason}): create the database, or fix [state] url"
    elif sqlstate.startswith("28"):
        advice = "refused this user ({reason}): check the user and password in [state] url"
    elif isinstance(exc, pg_errors.InsufficientPrivilege):
        advice = (
            "cannot be written ({reason}): grant this user SELECT, INSERT, UPDATE and DELETE "
            "on the listsync_* tables"
        )
    elif isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        advice = f"is not at this listsync's schema ({{reason}}): {_UPGRADE}"
    elif isinstance(exc, pg_errors.DiskFull):
        advice = "is on a full disk ({reason}): free some space on the server, then run again"
    elif isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        advice = (
            "is locked by another process for too long ({reason}): let it finish or stop it, "
            "then run again"
        )
    elif isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        advice = (
            "cannot be reached ({reason}): check that PostgreSQL is running and [state] url, "
            "then run again (what was recorded before is kept)"
        )
    elif isinstance(exc, ValueError | KeyError | TypeError):
        advice = (
            f"holds a record that cannot be read ({type(exc).__name__}): it was changed "
            "outside listsync; restore the database from a backup"
        )
    else:
        advice = "failed ({reason}): check the server's log, then run again"
    return StateStoreError(
        f"state store {where} {advice.format(reason=reason)}", path=where, reason=reason
    )


class PostgresStateStore(RowStore):
    """`StateStore` over a PostgreSQL database. Safe to share between threads (one lock).

    Args:
        url: `postgresql://user[:password]@host[:port]/database[?options]` (libpq's URL).
        create: writes allowed. With False (`status`, `plan`, `validate`) a database that was
            never migrated opens as an empty store (`exists` is False) refusing writes.
        auto_migrate: migrate a database that was never migrated, or is at an older revision,
            to the newest one when it is opened (`[state] auto_migrate = true`); without it
            such a database is refused with the command to run.
        connect_timeout: seconds to wait for the server when connecting.
        lock_timeout: seconds a write waits for a row another transaction holds.
    """

    sql: ClassVar[ModuleType] = sql
    READ_ERRORS = (psycopg.Error, ValueError, KeyError, TypeError)
    WRITE_ERRORS = (psycopg.Error, StateStoreError)
    CHAIN_CAUSE = False

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        auto_migrate: bool = False,
        connect_timeout: float = 10.0,
        lock_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.path = display_url(url)
        self._lock = threading.RLock()
        self._refusal: StateStoreError | None = None
        self._depth = 0
        self._claimed: set[int] = set()
        self.exists = True
        self._db = self._connect(connect_timeout, lock_timeout)
        try:
            self._check_schema(create=create, auto_migrate=auto_migrate)
        except BaseException:
            self._db.close()
            raise

    def _connect(self, connect_timeout: float, lock_timeout: float) -> psycopg.Connection[Any]:
        try:
            db = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(connect_timeout)),
                application_name=f"listsync pid {os.getpid()} on {socket.gethostname()}"[:63],
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            raise self._error(exc) from None
        try:
            db.execute("SET TIME ZONE 'UTC'")
            db.execute(f"SET lock_timeout = {int(lock_timeout * 1000)}")
        except psycopg.Error as exc:
            db.close()
            raise self._error(exc) from None
        return db

    def _error(self, exc: BaseException) -> StateStoreError:
        return connect_error(self.url, exc)

    # -- schema --------------------------------------------------------------------------------
    @property
    @guarded
    def schema_version(self) -> str | None:
        """The alembic revision the database is at (None: never migrated)."""
        with self._lock:
            found = self._db.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (sql.VERSION_TABLE,)
            ).fetchone()
            if not found or not found[0]:
                return None
            row = self._db.execute(f"SELECT version_num FROM {sql.VERSION_TABLE}").fetchone()  # noqa: S608
            return None if row is None else str(row[0])

    def _check_schema(self, *, create: bool, auto_migrate: bool) -> None:
        revision = self.schema_version
        if revision != sql.HEAD and create and auto_migrate and revision in (None, *sql.REVISIONS):
            from listsync.migrations import upgrade  # noqa: PLC0415  (alembic: only when asked)

            upgrade(self.url)
            revision = self.schema_version
        if revision == sql.HEAD:
            self._check_tables()
            return
        if revision is None and not create:  # nothing applied yet: an empty store
            self.exists = False
            self._refusal = StateStoreError(
                f"state store {self.path} has no listsync tables yet (opened to read only): "
                f"{_UPGRADE}, then `listsync apply`",
                path=self.path,
                reason="not migrated",
            )
            return
        if revision is None:
            raise StateStoreError(
                f"state store {self.path} has no listsync tables yet: {_UPGRADE} (or set "
                "[state] auto_migrate = true)",
                path=self.path,
                reason="not migrated",
            )
        if revision in sql.REVISIONS:
            raise StateStoreError(
                f"state store {self.path} is at schema revision {revision}, older than this "
                f"listsync's ({sql.HEAD}): {_UPGRADE}",
                path=self.path,
                reason="older schema",
            )
        raise StateStoreError(
            f"state store {self.path} is at schema revision {revision}, which this listsync "
            f"does not know (newest: {sql.HEAD}): upgrade listsync",
            path=self.path,
            reason="newer schema",
        )

    @guarded
    def _check_tables(self) -> None:
        with self._lock:
            query = "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL"
            missing = [t for (t,) in self._db.execute(query, (list(sql.TABLES),))]
        if missing:
            raise StateStoreError(
                f"state store {self.path} is at revision {sql.HEAD} but tables are missing "
                f"({', '.join(missing)}): restore the database from a backup",
                path=self.path,
                reason="tables missing",
            )

    # -- writers -------------------------------------------------------------------------------
    @contextmanager
    def writer(self, run_id: str | None = None, *, wait: float = 0.0) -> Iterator[None]:
        """A run that applies (`StateStore.writer`): no store-wide lease on PostgreSQL, where
        many runs share the store and `claim` keeps them off each other's listings. It
        checks, before anything is sent, that the server answers and this user may write
        every table, and names the run in `pg_stat_activity` (`application_name`).

        Raises:
            StateStoreError: the store cannot be written.
        """
        del wait  # nothing to wait for: other runs are welcome
        self._check_writable(run_id)
        yield

    @writing
    def _check_writable(self, run_id: str | None) -> None:
        with self._lock:
            query = (
                "SELECT t FROM unnest(%s::text[]) AS t WHERE NOT "
                "has_table_privilege(t, 'SELECT, INSERT, UPDATE, DELETE')"
            )
            denied = [t for (t,) in self._db.execute(query, (list(sql.TABLES),))]
            if denied:
                raise StateStoreError(
                    f"state store {self.path} cannot be written (this user may not change "
                    f"{', '.join(denied)}): grant it SELECT, INSERT, UPDATE and DELETE on them",
                    path=self.path,
                    reason="permission denied",
                )
            if run_id is not None:
                name = f"listsync run {run_id} pid {os.getpid()} on {socket.gethostname()}"
                self._db.execute("SELECT set_config('application_name', %s, false)", (name[:63],))

    @contextmanager
    def claim(self, key: StateKey) -> Iterator[bool]:
        """The lease on one listing on one portal account, held for the block: True when this
        store holds it, False at once when another process (or another claim of this store)
        does. Released at the end of the block, or by the server when the connection ends.

        Raises:
            StateStoreError: the server cannot be reached (the run stops).
        """
        lock_id = lease_key(key)
        held = self._try_claim(lock_id)
        try:
            yield held
        finally:
            if held:
                self._unclaim(lock_id)

    @writing
    def _try_claim(self, lock_id: int) -> bool:
        with self._lock:
            if lock_id in self._claimed:  # a session's advisory locks are re-entrant
                return False
            row = self._db.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()
            if row is None or not row[0]:
                return False
            self._claimed.add(lock_id)
            return True

    def _unclaim(self, lock_id: int) -> None:
        with self._lock:
            self._claimed.discard(lock_id)
            with suppress(psycopg.Error):  # a connection gone took its locks with it
                self._db.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))

    # -- what `RowStore` runs its statements with --------------------------------------------
    def _select_for(self, refs: list[str]) -> Iterator[tuple[Any, ...]]:
        yield from self._db.execute(sql.SELECT_STATES_FOR, (refs,)).fetchall()

    def _insert_intent(self, values: tuple[Any, ...]) -> int:
        row = self._db.execute(sql.INSERT_INTENT, values).fetchone()
        assert row is not None  # noqa: S101  (INSERT ... RETURNING returns the row)
        return int(row[0])

    def close(self) -> None:
        """Close the connection (the server releases this store's listing leases)."""
        with self._lock, suppress(psycopg.Error):
            self._claimed.clear()
            self._db.close()

    def transaction(self) -> _Transaction:
        """BEGIN ... COMMIT (ROLLBACK when the block raises), holding the store's lock; the
        writes inside join it rather than commit on their own."""
        return _Transaction(self)


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises; inside another one, nothing (the
    outer one commits)."""

    def __init__(self, store: PostgresStateStore) -> None:
        self._store = store
        self._outer = False

    def __enter__(self) -> None:
        store = self._store
        if store._refusal is not None:
            raise store._refusal
        store._lock.acquire()
        if store._depth == 0:
            try:
                store._db.execute("BEGIN")
            except BaseException as exc:
                store._lock.release()
                if isinstance(exc, psycopg.Error):
                    raise store._broke(exc) from None
                raise
            self._outer = True
        store._depth += 1

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        store = self._store
        store._depth -= 1
        try:
            if not self._outer:
                return
            if exc_type is not None:
                with suppress(psycopg.Error):  # the block's own error is the one reported
                    store._db.execute("ROLLBACK")
                return
            try:
                store._db.execute("COMMIT")
            except psycopg.Error as error:
                with suppress(psycopg.Error):
                    store._db.execute("ROLLBACK")
                raise store._broke(error) from None
        finally:
            store._lock.release()
