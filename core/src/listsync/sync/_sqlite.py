"""The default state store: one SQLite file (stdlib sqlite3), WAL, created on first use.

The schema is versioned with `PRAGMA user_version`; `_MIGRATIONS[i]` moves a database from
version i to i + 1, so an old file is upgraded in place when opened.

Durability: WAL with `synchronous=NORMAL` makes every commit survive a killed process (SIGKILL)
without an fsync per commit; only a power loss can lose the last commits. Each `save` is one
transaction holding the state row, its audit entry and the journal clean-up, so the cost of a
recorded operation is one commit; a single-statement write (`add_intent`, `clear_intent`, a
`save` with nothing else) is its own transaction in autocommit mode, committed when `execute`
returns. The SQL is built once (module constants), so sqlite3's statement cache reuses the
prepared statements.
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
from listsync.sync._store import AuditEntry, Intent, ListingState, Outcome, StateKey

__all__ = ["SCHEMA_VERSION", "SQLiteStateStore", "open_state_store"]

_MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: listing state, journal, audit trail
    """
    CREATE TABLE listing_state (
        portal TEXT NOT NULL,
        account TEXT NOT NULL,
        external_ref TEXT NOT NULL,
        remote_id TEXT,
        sent_json TEXT,
        sent_hash TEXT,
        item_ids TEXT NOT NULL DEFAULT '{}',
        status TEXT,
        is_visible INTEGER,
        is_approved INTEGER,
        approval_url TEXT,
        outcome TEXT,
        error_class TEXT,
        error_message TEXT,
        issues TEXT NOT NULL DEFAULT '[]',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (portal, account, external_ref)
    ) WITHOUT ROWID;
    CREATE INDEX listing_state_ref ON listing_state (external_ref);
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        portal TEXT NOT NULL,
        account TEXT NOT NULL,
        external_ref TEXT NOT NULL,
        op_kind TEXT NOT NULL,
        op_key TEXT,
        op_json TEXT NOT NULL,
        item_json TEXT,
        run_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX journal_key ON journal (portal, account, external_ref);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        run_id TEXT,
        portal TEXT NOT NULL,
        account TEXT NOT NULL,
        external_ref TEXT NOT NULL,
        operation TEXT NOT NULL,
        outcome TEXT NOT NULL,
        request_id TEXT,
        message TEXT
    );
    """,
    # 1 -> 2: the audit trail is read per listing (status --listing)
    """
    CREATE INDEX audit_ref ON audit (external_ref, id);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

_STATE_COLUMNS = (
    "portal, account, external_ref, remote_id, sent_json, sent_hash, item_ids, status, "
    "is_visible, is_approved, approval_url, outcome, error_class, error_message, issues, "
    "attempts, created_at, updated_at"
)


_SELECT_STATE = f"SELECT {_STATE_COLUMNS} FROM listing_state "  # noqa: S608  (constant columns)
_GET_STATE = _SELECT_STATE + "WHERE portal = ? AND account = ? AND external_ref = ?"
_UPSERT_STATE = (
    f"INSERT OR REPLACE INTO listing_state ({_STATE_COLUMNS}) "  # noqa: S608  (constant)
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_AUDIT = (
    "INSERT INTO audit (at, run_id, portal, account, external_ref, operation, outcome, "
    "request_id, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_INTENT = (
    "INSERT INTO journal (portal, account, external_ref, op_kind, op_key, op_json, "
    "item_json, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_INTENT = "DELETE FROM journal WHERE id = ?"
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
        self._lock = threading.Lock()
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
                    for statement in _MIGRATIONS[version].split(";"):
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
            row = self._db.execute(_GET_STATE, key).fetchone()
        return None if row is None else _state_from_row(row)

    def records(
        self, external_ref: str | None = None, *, portal: str | None = None
    ) -> Iterator[ListingState]:
        where, args = [], []
        if external_ref is not None:
            where.append("external_ref = ?")
            args.append(external_ref)
        if portal is not None:
            where.append("portal = ?")
            args.append(portal)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"{_SELECT_STATE}{clause} ORDER BY portal, account, external_ref"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        for row in rows:
            yield _state_from_row(row)

    def save(
        self,
        state: ListingState,
        *,
        audit: AuditEntry | None = None,
        clear_intent: int | None = None,
    ) -> None:
        row = _state_to_row(state)
        with self._lock:
            if audit is None and clear_intent is None:
                self._db.execute(_UPSERT_STATE, row)  # one statement: its own transaction
                return
            with self._transaction():
                self._db.execute(_UPSERT_STATE, row)
                if audit is not None:
                    self._db.execute(_INSERT_AUDIT, _audit_to_row(audit))
                if clear_intent is not None:
                    self._db.execute(_DELETE_INTENT, (clear_intent,))

    # -- journal -------------------------------------------------------------------------------
    def add_intent(self, intent: Intent) -> int:
        item = intent.item.model_dump_json() if intent.item is not None else None
        with self._lock:  # one INSERT in autocommit mode: durable when execute returns
            cursor = self._db.execute(
                _INSERT_INTENT,
                (
                    *intent.key,
                    intent.op.kind.value,
                    intent.op.key,
                    intent.op.model_dump_json(),
                    item,
                    intent.run_id,
                    intent.created_at.isoformat(),
                ),
            )
        assert cursor.lastrowid is not None  # noqa: S101  (sqlite always sets it after INSERT)
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
            self._db.execute(_DELETE_INTENT, (intent_id,))

    # -- audit -----------------------------------------------------------------------------------
    def audit(
        self, external_ref: str, *, portal: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        sql = (
            "SELECT at, run_id, portal, account, external_ref, operation, outcome, request_id, "
            "message FROM audit WHERE external_ref = ?"
        )
        args: list[Any] = [external_ref]
        if portal is not None:
            sql += " AND portal = ?"
            args.append(portal)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
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

    # -- helpers ---------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


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


def _state_to_row(s: ListingState) -> tuple[Any, ...]:
    return (
        s.portal,
        s.account,
        s.external_ref,
        s.remote_id,
        s.sent_json,
        s.sent_hash,
        _COMPACT.encode(s.item_ids) if s.item_ids else "{}",
        s.status.value if s.status is not None else None,
        s.is_visible,
        s.is_approved,
        s.approval_url,
        s.outcome.value if s.outcome is not None else None,
        s.error_class,
        s.error_message,
        _issues_json(s.issues),
        s.attempts,
        s.created_at.isoformat(),
        s.updated_at.isoformat(),
    )


def _issues_json(issues: tuple[FieldIssue, ...]) -> str:
    if not issues:
        return "[]"
    return json.dumps([i.model_dump(mode="json", exclude_defaults=True) for i in issues])


def _state_from_row(row: tuple[Any, ...]) -> ListingState:
    (portal, account, ref, remote_id, sent_json, sent_hash, item_ids, status) = row[:8]
    (visible, approved, approval_url, outcome, error_class, error_message) = row[8:14]
    (issues, attempts, created, updated) = row[14:]
    return ListingState(
        portal=portal,
        account=account,
        external_ref=ref,
        remote_id=remote_id,
        sent_json=sent_json,
        sent_hash=sent_hash,
        item_ids=json.loads(item_ids),
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
    )
