"""The SQLite state store's schema and statements (`_sqlite.py` runs them).

The schema is versioned with `PRAGMA user_version`: `MIGRATIONS[i]` moves a database from
version i to i + 1, as SQL statements or, where rows must be rewritten, a function of the
connection. The statements are module constants, so sqlite3's statement cache reuses the
prepared statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from listsync.adapter import Projection
from listsync.errors import StateStoreError
from listsync.sync._sent import fold_steps

__all__ = [
    "DELETE_INTENT",
    "DELETE_WHOLE",
    "GET_STATE",
    "INSERT_AUDIT",
    "INSERT_INTENT",
    "LISTSYNC_TABLES",
    "MIGRATIONS",
    "ORDER",
    "PARAM",
    "REUSE_INTENT",
    "SCHEMA_VERSION",
    "SELECT_AUDIT",
    "SELECT_INTENTS",
    "SELECT_STATE",
    "SELECT_STEPS",
    "UPDATE_STATE",
    "UPSERT_STATE",
    "UPSERT_WHOLE",
    "check_tables",
    "upgrade",
    "version",
]


_KEY = "portal = ? AND account = ? AND external_ref = ?"


def _refs_out_of_fields(db: sqlite3.Connection) -> None:
    """3 -> 4: references to other records move from a projection's `fields` to its `refs`.

    Adapters used to carry them in `fields` under a key starting with `_` (Hemnet's agency as
    `fields._agency`); `Projection.refs` now holds them by name (`refs.agency`). Each stored
    projection is rewritten whole with the keys moved; a record left part-way (steps after the
    whole projection, by a killed run) is folded into a whole one first. A digest recorded for
    a converged listing is recomputed, so an unchanged listing still has nothing to send.
    """
    rows = db.execute(
        "SELECT s.portal, s.account, s.external_ref, s.item_ids, s.sent_hash, s.sent_steps, "
        "p.data FROM listing_state AS s JOIN sent_projection AS p ON p.portal = s.portal "
        "AND p.account = s.account AND p.external_ref = s.external_ref AND p.seq = 0"
    ).fetchall()
    for portal, account, ref, item_ids, sent_hash, steps, whole in rows:
        key = (portal, account, ref)
        ids = json.loads(item_ids)
        if steps:
            steps_json = [data for (data,) in db.execute(_V4_SELECT_STEPS, key)]
            folded, ids = fold_steps(whole, steps_json, ids)
            data = folded.model_dump(mode="json")
        else:
            data = json.loads(whole)
        fields = data.get("fields", {})
        moved = {k[1:]: v for k, v in fields.items() if k.startswith("_")}
        if not moved and not steps:
            continue
        data["fields"] = {k: v for k, v in fields.items() if not k.startswith("_")}
        data["refs"] = {**data.get("refs", {}), **moved}
        projection = Projection.model_validate(data)
        db.execute(_V4_DELETE_SENT, key)
        db.execute(_V4_INSERT_WHOLE, (*key, projection.model_dump_json()))
        digest = projection.digest() if sent_hash is not None else None
        db.execute(
            f"UPDATE listing_state SET sent_steps = 0, item_ids = ?, sent_hash = ? WHERE {_KEY}",  # noqa: S608  (constant)
            (json.dumps(ids, separators=(",", ":")), digest, *key),
        )


MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
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
    # 2 -> 3: the sent projection apart from the state row, whole (seq 0) then in steps
    """
    CREATE TABLE sent_projection (
        portal TEXT NOT NULL,
        account TEXT NOT NULL,
        external_ref TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (portal, account, external_ref, seq)
    ) WITHOUT ROWID;
    INSERT INTO sent_projection (portal, account, external_ref, seq, data)
        SELECT portal, account, external_ref, 0, sent_json FROM listing_state
        WHERE sent_json IS NOT NULL;
    ALTER TABLE listing_state ADD COLUMN sent_base INTEGER;
    ALTER TABLE listing_state ADD COLUMN sent_steps INTEGER NOT NULL DEFAULT 0;
    UPDATE listing_state SET sent_base = random() WHERE sent_json IS NOT NULL;
    ALTER TABLE listing_state DROP COLUMN sent_json;
    """,
    # 3 -> 4: `fields._name` references move to `refs.name` (Projection.refs)
    _refs_out_of_fields,
    # 4 -> 5: the steps of the sent projection move into the audit rows (one row per
    # operation: its entry and its step), which may now hold a step without an entry.
    # The table is made again: SQLite cannot drop a NOT NULL. sent_projection keeps the
    # whole projections only (seq 0).
    """
    CREATE TABLE audit_v5 (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        run_id TEXT,
        portal TEXT NOT NULL,
        account TEXT NOT NULL,
        external_ref TEXT NOT NULL,
        operation TEXT,
        outcome TEXT,
        request_id TEXT,
        message TEXT,
        sent_base INTEGER,
        sent_seq INTEGER,
        step TEXT
    );
    INSERT INTO audit_v5 (id, at, run_id, portal, account, external_ref, operation, outcome,
        request_id, message)
        SELECT id, at, run_id, portal, account, external_ref, operation, outcome, request_id,
        message FROM audit ORDER BY id;
    DROP TABLE audit;
    ALTER TABLE audit_v5 RENAME TO audit;
    CREATE INDEX audit_ref ON audit (external_ref, id);
    INSERT INTO audit (at, portal, account, external_ref, sent_base, sent_seq, step)
        SELECT s.updated_at, p.portal, p.account, p.external_ref, s.sent_base, p.seq, p.data
        FROM sent_projection AS p JOIN listing_state AS s ON s.portal = p.portal
        AND s.account = p.account AND s.external_ref = p.external_ref
        WHERE p.seq > 0 ORDER BY p.portal, p.account, p.external_ref, p.seq;
    DELETE FROM sent_projection WHERE seq > 0;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_STATE_COLUMNS = (
    "portal, account, external_ref, remote_id, sent_hash, item_ids, status, is_visible, "
    "is_approved, approval_url, outcome, error_class, error_message, issues, attempts, "
    "created_at, updated_at, sent_base, sent_steps"
)
LISTSYNC_TABLES = frozenset({"listing_state", "journal", "audit", "sent_projection"})
"""The tables of a current store: a file missing one is not a listsync state store."""

SELECT_STATE = (
    "SELECT s.portal, s.account, s.external_ref, s.remote_id, s.sent_hash, s.item_ids, "
    "s.status, s.is_visible, s.is_approved, s.approval_url, s.outcome, s.error_class, "
    "s.error_message, s.issues, s.attempts, s.created_at, s.updated_at, s.sent_base, "
    "s.sent_steps, p.data FROM listing_state AS s LEFT JOIN sent_projection AS p "
    "ON p.portal = s.portal AND p.account = s.account AND p.external_ref = s.external_ref "
    "AND p.seq = 0"
)
GET_STATE = f"{SELECT_STATE} WHERE s.portal = ? AND s.account = ? AND s.external_ref = ?"
ORDER = " ORDER BY s.portal, s.account, s.external_ref"
PARAM = "?"
UPSERT_STATE = (
    f"INSERT OR REPLACE INTO listing_state ({_STATE_COLUMNS}) "  # noqa: S608  (constant)
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_STATE = (  # all but the key, created_at and what goes with the whole projection
    "UPDATE listing_state SET remote_id = ?, sent_hash = ?, status = ?, is_visible = ?, "  # noqa: S608  (constant)
    "is_approved = ?, approval_url = ?, outcome = ?, error_class = ?, error_message = ?, "
    "issues = ?, attempts = ?, updated_at = ?, sent_steps = ? "
    f"WHERE {_KEY} AND sent_base = ? AND sent_steps = ?"
)
UPSERT_WHOLE = (
    "INSERT OR REPLACE INTO sent_projection (portal, account, external_ref, seq, data) "
    "VALUES (?, ?, ?, 0, ?)"
)
DELETE_WHOLE = f"DELETE FROM sent_projection WHERE {_KEY}"  # noqa: S608  (constant)
SELECT_STEPS = (  # the steps of one base up to a depth, oldest first (`_sqlbase.RowStore._read`)
    "SELECT sent_seq, step FROM audit WHERE portal = ? AND account = ? AND external_ref = ? "
    "AND sent_base = ? AND sent_seq BETWEEN 1 AND ? AND step IS NOT NULL ORDER BY id"
)
INSERT_AUDIT = (
    "INSERT INTO audit (at, run_id, portal, account, external_ref, operation, outcome, "
    "request_id, message, sent_base, sent_seq, step) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_AUDIT = (  # `RowStore.audit` adds the portal, the order and the limit
    "SELECT at, run_id, portal, account, external_ref, operation, outcome, request_id, "
    "message FROM audit WHERE external_ref = ? AND operation IS NOT NULL"
)
SELECT_INTENTS = (
    "SELECT id, op_json, item_json, run_id, created_at FROM journal "  # noqa: S608
    f"WHERE {_KEY} ORDER BY id"
)
# the statements of schema 4, for the migration from 3 to 4
_V4_DELETE_SENT = f"DELETE FROM sent_projection WHERE {_KEY}"  # noqa: S608  (constant)
_V4_INSERT_WHOLE = (
    "INSERT INTO sent_projection (portal, account, external_ref, seq, data) VALUES (?, ?, ?, 0, ?)"
)
_V4_SELECT_STEPS = f"SELECT data FROM sent_projection WHERE {_KEY} AND seq > 0 ORDER BY seq"  # noqa: S608
_INTENT_VALUES = "op_kind = ?, op_key = ?, op_json = ?, item_json = ?, run_id = ?, created_at = ?"
INSERT_INTENT = (
    "INSERT INTO journal (portal, account, external_ref, op_kind, op_key, op_json, "
    "item_json, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
REUSE_INTENT = f"UPDATE journal SET {_INTENT_VALUES} WHERE id = ? AND {_KEY}"  # noqa: S608
DELETE_INTENT = "DELETE FROM journal WHERE id = ?"


def version(db: sqlite3.Connection) -> int:
    """The schema version of the database (`PRAGMA user_version`, 0 for a new file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def upgrade(db: sqlite3.Connection, current: int, path: str) -> None:
    """Migrate the database at `path` from version `current` to `SCHEMA_VERSION`, inside the
    caller's transaction.

    Raises:
        StateStoreError: a version newer than this listsync's, or a database (version 0) that
            already holds tables of something else.
    """
    if current > SCHEMA_VERSION:
        raise StateStoreError(
            f"state store {path} has schema version {current}, newer than this listsync "
            f"({SCHEMA_VERSION}): upgrade listsync",
            path=path,
            reason="newer schema",
        )
    if current == 0:
        tables = _tables(db)
        if tables:
            raise _not_ours(path, f"it holds other tables: {', '.join(sorted(tables)[:5])}")
    for number in range(current, SCHEMA_VERSION):
        migration = MIGRATIONS[number]
        if isinstance(migration, str):
            for statement in migration.split(";"):
                if statement.strip():
                    db.execute(statement)
        else:
            migration(db)
        db.execute(f"PRAGMA user_version = {number + 1}")


def check_tables(db: sqlite3.Connection, path: str) -> None:
    """Raises `StateStoreError` when a database at the current version lacks a table."""
    missing = LISTSYNC_TABLES - _tables(db)
    if missing:
        raise _not_ours(path, f"tables missing: {', '.join(sorted(missing))}")


def _tables(db: sqlite3.Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    return {name for (name,) in db.execute(query)}


def _not_ours(path: str, detail: str) -> StateStoreError:
    return StateStoreError(
        f"state store {path} is not a listsync state store ({detail}): point the state URL "
        "at the right file, or restore the store from a backup",
        path=path,
        reason="not a listsync store",
    )
