"""The PostgreSQL state store's tables and statements (`_postgres.py` runs them).

The tables are those of the SQLite store, prefixed `listsync_` (a CRM's own database may well
have an `audit` table of its own): `listsync_state` (one row per listing and portal account),
`listsync_sent` (the whole sent projection, at seq 0), `listsync_journal` (intents) and
`listsync_audit` (one row per operation: its entry and its step in the sent projection, see
`listsync.sync._sent` and `_sqlbase.py`; revision 0002 moved the steps there). The schema is made
and changed by the alembic migrations in `listsync.migrations`, never by the store itself;
alembic records the revision in `listsync_alembic_version` (not `alembic_version`, which the
CRM's own migrations may use). `REVISIONS` lists every revision, oldest first; a test checks
it against the migration scripts.

JSON is kept as text (the store never queries inside it, and text costs neither side a
parse); times are `timestamptz`.
"""

from __future__ import annotations

__all__ = [
    "DELETE_INTENT",
    "DELETE_WHOLE",
    "GET_STATE",
    "HEAD",
    "INSERT_AUDIT",
    "INSERT_INTENT",
    "ORDER",
    "PARAM",
    "REUSE_INTENT",
    "REVISIONS",
    "SELECT_AUDIT",
    "SELECT_INTENTS",
    "SELECT_STATE",
    "SELECT_STATES_FOR",
    "SELECT_STEPS",
    "TABLES",
    "UPDATE_STATE",
    "UPSERT_STATE",
    "UPSERT_WHOLE",
    "VERSION_TABLE",
]

REVISIONS = ("0001", "0002")
"""Every alembic revision of the schema, oldest first (`listsync/migrations/versions`)."""
HEAD = REVISIONS[-1]
VERSION_TABLE = "listsync_alembic_version"
TABLES = ("listsync_state", "listsync_sent", "listsync_journal", "listsync_audit")

_KEY = "portal = %s AND account = %s AND external_ref = %s"
_STATE_COLUMNS = (
    "portal, account, external_ref, remote_id, sent_hash, item_ids, status, is_visible, "
    "is_approved, approval_url, outcome, error_class, error_message, issues, attempts, "
    "created_at, updated_at, sent_base, sent_steps"
)
_REPLACED = ", ".join(
    f"{c} = EXCLUDED.{c}" for c in _STATE_COLUMNS.split(", ")[3:]
)  # every column but the key: what SQLite's INSERT OR REPLACE writes

SELECT_STATE = (
    "SELECT s.portal, s.account, s.external_ref, s.remote_id, s.sent_hash, s.item_ids, "
    "s.status, s.is_visible, s.is_approved, s.approval_url, s.outcome, s.error_class, "
    "s.error_message, s.issues, s.attempts, s.created_at, s.updated_at, s.sent_base, "
    "s.sent_steps, p.data FROM listsync_state AS s LEFT JOIN listsync_sent AS p "
    "ON p.portal = s.portal AND p.account = s.account AND p.external_ref = s.external_ref "
    "AND p.seq = 0"
)
GET_STATE = f"{SELECT_STATE} WHERE s.portal = %s AND s.account = %s AND s.external_ref = %s"
PARAM = "%s"
ORDER = ' ORDER BY s.portal COLLATE "C", s.account COLLATE "C", s.external_ref COLLATE "C"'
"""The order of `records` (the SQLite store's: by code point, whatever the database's locale)."""
SELECT_STATES_FOR = f"{SELECT_STATE} WHERE s.external_ref = ANY(%s){ORDER}"
"""The states of a list of listings (`records_for`): one statement, one parameter."""
UPSERT_STATE = (
    f"INSERT INTO listsync_state ({_STATE_COLUMNS}) VALUES ({', '.join(['%s'] * 19)}) "  # noqa: S608  (constant)
    f"ON CONFLICT (portal, account, external_ref) DO UPDATE SET {_REPLACED}"
)
UPDATE_STATE = (  # all but the key, created_at and what goes with the whole projection
    "UPDATE listsync_state SET remote_id = %s, sent_hash = %s, status = %s, is_visible = %s, "  # noqa: S608  (constant)
    "is_approved = %s, approval_url = %s, outcome = %s, error_class = %s, error_message = %s, "
    "issues = %s, attempts = %s, updated_at = %s, sent_steps = %s "
    f"WHERE {_KEY} AND sent_base = %s AND sent_steps = %s"
)
UPSERT_WHOLE = (
    "INSERT INTO listsync_sent (portal, account, external_ref, seq, data) "
    "VALUES (%s, %s, %s, 0, %s) ON CONFLICT (portal, account, external_ref, seq) "
    "DO UPDATE SET data = EXCLUDED.data"
)
DELETE_WHOLE = f"DELETE FROM listsync_sent WHERE {_KEY}"  # noqa: S608  (constant)
SELECT_STEPS = (  # the steps of one base up to a depth, oldest first (`_sqlbase.RowStore._read`)
    "SELECT sent_seq, step FROM listsync_audit WHERE portal = %s AND account = %s "
    "AND external_ref = %s AND sent_base = %s AND sent_seq BETWEEN 1 AND %s AND step IS NOT NULL "
    "ORDER BY id"
)
INSERT_AUDIT = (
    "INSERT INTO listsync_audit (at, run_id, portal, account, external_ref, operation, "
    "outcome, request_id, message, sent_base, sent_seq, step) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
SELECT_AUDIT = (  # `RowStore.audit` adds the portal, the order and the limit
    "SELECT at, run_id, portal, account, external_ref, operation, outcome, request_id, "
    "message FROM listsync_audit WHERE external_ref = %s AND operation IS NOT NULL"
)
INSERT_INTENT = (
    "INSERT INTO listsync_journal (portal, account, external_ref, op_kind, op_key, op_json, "
    "item_json, run_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
REUSE_INTENT = (
    "UPDATE listsync_journal SET op_kind = %s, op_key = %s, op_json = %s, item_json = %s, "  # noqa: S608  (constant)
    f"run_id = %s, created_at = %s WHERE id = %s AND {_KEY}"
)
DELETE_INTENT = "DELETE FROM listsync_journal WHERE id = %s"
SELECT_INTENTS = (
    "SELECT id, op_json, item_json, run_id, created_at FROM listsync_journal "  # noqa: S608
    f"WHERE {_KEY} ORDER BY id"
)
