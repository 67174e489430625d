"""The default state store: one SQLite file (stdlib sqlite3), WAL, created on first use.

The schema is versioned (`_sqlschema.py`): an old file is upgraded in place when opened.

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
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from listsync.adapter import Operation, PortalStatus, ProjectedItem
from listsync.errors import ConfigurationError, FieldIssue
from listsync.sync import _sqlschema as sql
from listsync.sync._sent import SentRecord, fold_steps, new_base
from listsync.sync._sqlschema import SCHEMA_VERSION
from listsync.sync._store import AuditEntry, Intent, ListingState, Outcome, StateKey

__all__ = ["SCHEMA_VERSION", "SQLiteStateStore", "open_state_store"]

_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options builds one per call


def open_state_store(url: str) -> SQLiteStateStore:
    """Open the store named by a URL: `sqlite:///relative/path`, `sqlite:////abs/path` or
    `sqlite:///:memory:`.

    Raises:
        ConfigurationError: an unsupported URL.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigurationError(
            f"unsupported state URL {url!r} (expected sqlite:///path)", key="state.url"
        )
    return SQLiteStateStore(url.removeprefix(prefix))


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


class SQLiteStateStore:
    """`StateStore` over one SQLite file. Safe to share between threads (one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # a save takes it again inside `transaction()`
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            current = self._db.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"state database {self.path} has schema version {current}, newer than this "
                    f"listsync ({SCHEMA_VERSION}); upgrade listsync",
                    key="state.url",
                )
            for version in range(current, SCHEMA_VERSION):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in sql.MIGRATIONS[version].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {version + 1}")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- listing state -----------------------------------------------------------------------
    def get(self, key: StateKey) -> ListingState | None:
        with self._lock:
            row = self._db.execute(sql.GET_STATE, key).fetchone()
            return None if row is None else self._read(row)

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
            rows = self._db.execute(query, args).fetchall()
            states = [self._read(row) for row in rows]
        yield from states

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
                self._db.execute(sql.INSERT_AUDIT, _audit_to_row(audit))
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
            cursor = self._db.execute(sql.UPDATE_STATE, (*_small_row(state, record), *position))
            if cursor.rowcount == 1:
                if stepped:
                    self._db.execute(sql.INSERT_SENT, (*state.key, record.depth, record.step))
                return
        # Written whole: a new projection under its own id, a stored whole one under its id
        # too (every copy of position (id, 0) holds that very projection); any other under a
        # new id, so that no copy of a position the database left can match a later UPDATE.
        self._write_whole(state, record.base if record.depth == 0 else new_base())

    def _write_whole(self, state: ListingState, base: int | None) -> None:
        self._db.execute(sql.UPSERT_STATE, _state_to_row(state, base))
        self._db.execute(sql.DELETE_SENT, state.key)
        if state.sent_json is not None:
            self._db.execute(sql.INSERT_SENT, (*state.key, 0, state.sent_json))

    def _read(self, row: tuple[Any, ...]) -> ListingState:
        """A state read back; its steps are folded in (a listing a killed run left part-way)."""
        base, depth, whole = row[17:]
        item_ids: dict[str, str] = json.loads(row[5])
        if whole is None:
            return _state_from_row(row, None, item_ids, None)
        if depth == 0:
            return _state_from_row(row, whole, item_ids, SentRecord(base, 0, whole, item_ids))
        steps = [data for (data,) in self._db.execute(sql.SELECT_STEPS, row[:3])]
        sent, item_ids = fold_steps(whole, steps, item_ids)
        text = sent.model_dump_json()
        record = SentRecord(base, depth, text, item_ids, projection=sent)
        return _state_from_row(row, text, item_ids, record)

    # -- journal -------------------------------------------------------------------------------
    def add_intent(self, intent: Intent) -> int:
        with self._lock:  # one INSERT: durable when execute returns, unless in `transaction()`
            cursor = self._db.execute(sql.INSERT_INTENT, (*intent.key, *_intent_values(intent)))
        assert cursor.lastrowid is not None  # noqa: S101  (sqlite always sets it after INSERT)
        return cursor.lastrowid

    def _journal(self, clear_intent: int | None, intent: Intent | None) -> int | None:
        """Clear one intent and journal another (in place: one row written, not two)."""
        if intent is not None and clear_intent is not None:
            values = (*_intent_values(intent), clear_intent, *intent.key)
            if self._db.execute(sql.REUSE_INTENT, values).rowcount == 1:
                return clear_intent
        if clear_intent is not None:
            self._db.execute(sql.DELETE_INTENT, (clear_intent,))
        if intent is None:
            return None
        cursor = self._db.execute(sql.INSERT_INTENT, (*intent.key, *_intent_values(intent)))
        return cursor.lastrowid

    def intents(self, key: StateKey) -> list[Intent]:
        with self._lock:
            rows = self._db.execute(
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
            for intent_id, op_json, item_json, run_id, created_at in rows
        ]

    def clear_intent(self, intent_id: int) -> None:
        with self._lock:
            self._db.execute(sql.DELETE_INTENT, (intent_id,))

    # -- audit -----------------------------------------------------------------------------------
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
            rows = self._db.execute(query, args).fetchall()
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
            for at, run_id, p, a, r, op, outcome, request_id, message in reversed(rows)
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def transaction(self) -> _Transaction:
        """BEGIN ... COMMIT (ROLLBACK when the block raises), holding the store's lock; the
        writes inside join it rather than commit on their own."""
        return _Transaction(self._db, self._lock)


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises; inside another one, nothing (the
    outer one commits). A class rather than `contextlib.contextmanager`: one per save."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock
        self._outer = False

    def __enter__(self) -> None:
        self._lock.acquire()
        if not self._db.in_transaction:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._lock.release()
                raise
            self._outer = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self._outer:
                self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            self._lock.release()


def _intent_values(intent: Intent) -> tuple[Any, ...]:
    return (
        intent.op.kind.value,
        intent.op.key,
        intent.op.model_dump_json(),
        intent.item.model_dump_json() if intent.item is not None else None,
        intent.run_id,
        intent.created_at.isoformat(),
    )


def _audit_to_row(entry: AuditEntry) -> tuple[Any, ...]:
    return (
        entry.at.isoformat(),
        entry.run_id,
        *entry.key,
        entry.operation,
        entry.outcome,
        entry.request_id,
        entry.message,
    )


def _small_row(s: ListingState, record: SentRecord) -> tuple[Any, ...]:
    """`sql.UPDATE_STATE`'s values (without the stored position it is conditional on)."""
    return (
        s.remote_id,
        s.sent_hash,
        *_portal_columns(s),
        s.updated_at.isoformat(),
        record.depth,
        *s.key,
    )


def _portal_columns(s: ListingState) -> tuple[Any, ...]:
    """status .. attempts: the columns both row forms write in the same order."""
    return (
        s.status.value if s.status is not None else None,
        s.is_visible,
        s.is_approved,
        s.approval_url,
        s.outcome.value if s.outcome is not None else None,
        s.error_class,
        s.error_message,
        _issues_json(s.issues),
        s.attempts,
    )


def _state_to_row(s: ListingState, base: int | None) -> tuple[Any, ...]:
    return (
        s.portal,
        s.account,
        s.external_ref,
        s.remote_id,
        s.sent_hash,
        _COMPACT.encode(s.item_ids) if s.item_ids else "{}",
        *_portal_columns(s),
        s.created_at.isoformat(),
        s.updated_at.isoformat(),
        base,
        0,
    )


def _issues_json(issues: tuple[FieldIssue, ...]) -> str:
    if not issues:
        return "[]"
    return json.dumps([i.model_dump(mode="json", exclude_defaults=True) for i in issues])


def _state_from_row(
    row: tuple[Any, ...],
    sent_json: str | None,
    item_ids: dict[str, str],
    record: SentRecord | None,
) -> ListingState:
    (portal, account, ref, remote_id, sent_hash, _, status, visible, approved) = row[:9]
    (approval_url, outcome, error_class, error_message, issues, attempts) = row[9:15]
    (created, updated) = row[15:17]
    return ListingState(
        portal=portal,
        account=account,
        external_ref=ref,
        remote_id=remote_id,
        sent_json=sent_json,
        sent_hash=sent_hash,
        item_ids=item_ids,
        status=PortalStatus(status) if status else None,
        is_visible=_opt_bool(visible),
        is_approved=_opt_bool(approved),
        approval_url=approval_url,
        outcome=Outcome(outcome) if outcome else None,
        error_class=error_class,
        error_message=error_message,
        issues=tuple(FieldIssue.model_validate(i) for i in json.loads(issues)),
        attempts=attempts,
        created_at=dt.datetime.fromisoformat(created),
        updated_at=dt.datetime.fromisoformat(updated),
        sent_record=record,
    )
