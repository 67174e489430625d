"""The SQLite state store's schema and statements (`_sqlite.py` runs them).

The schema is versioned with `PRAGMA user_version`: `MIGRATIONS[i]` moves a database from
version i to i + 1. The statements are module constants, so sqlite3's statement cache reuses
the prepared statements.
"""

from __future__ import annotations

__all__ = [
    "DELETE_INTENT",
    "DELETE_SENT",
    "GET_STATE",
    "INSERT_AUDIT",
    "INSERT_INTENT",
    "INSERT_SENT",
    "MIGRATIONS",
    "REUSE_INTENT",
    "SCHEMA_VERSION",
    "SELECT_STATE",
    "SELECT_STEPS",
    "UPDATE_STATE",
    "UPSERT_STATE",
]

MIGRATIONS: tuple[str, ...] = (
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
)
SCHEMA_VERSION = len(MIGRATIONS)

_STATE_COLUMNS = (
    "portal, account, external_ref, remote_id, sent_hash, item_ids, status, is_visible, "
    "is_approved, approval_url, outcome, error_class, error_message, issues, attempts, "
    "created_at, updated_at, sent_base, sent_steps"
)
_KEY = "portal = ? AND account = ? AND external_ref = ?"

SELECT_STATE = (
    "SELECT s.portal, s.account, s.external_ref, s.remote_id, s.sent_hash, s.item_ids, "
    "s.status, s.is_visible, s.is_approved, s.approval_url, s.outcome, s.error_class, "
    "s.error_message, s.issues, s.attempts, s.created_at, s.updated_at, s.sent_base, "
    "s.sent_steps, p.data FROM listing_state AS s LEFT JOIN sent_projection AS p "
    "ON p.portal = s.portal AND p.account = s.account AND p.external_ref = s.external_ref "
    "AND p.seq = 0"
)
GET_STATE = f"{SELECT_STATE} WHERE s.portal = ? AND s.account = ? AND s.external_ref = ?"
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
INSERT_SENT = (
    "INSERT INTO sent_projection (portal, account, external_ref, seq, data) VALUES (?, ?, ?, ?, ?)"
)
DELETE_SENT = f"DELETE FROM sent_projection WHERE {_KEY}"  # noqa: S608  (constant)
SELECT_STEPS = f"SELECT data FROM sent_projection WHERE {_KEY} AND seq > 0 ORDER BY seq"  # noqa: S608
INSERT_AUDIT = (
    "INSERT INTO audit (at, run_id, portal, account, external_ref, operation, outcome, "
    "request_id, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INTENT_VALUES = "op_kind = ?, op_key = ?, op_json = ?, item_json = ?, run_id = ?, created_at = ?"
INSERT_INTENT = (
    "INSERT INTO journal (portal, account, external_ref, op_kind, op_key, op_json, "
    "item_json, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
REUSE_INTENT = f"UPDATE journal SET {_INTENT_VALUES} WHERE id = ? AND {_KEY}"  # noqa: S608
DELETE_INTENT = "DELETE FROM journal WHERE id = ?"
