"""The state store's tables: listing state, sent projections, journal, audit.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_UPGRADE = """
CREATE TABLE listsync_state (
    portal TEXT NOT NULL,
    account TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    remote_id TEXT,
    sent_hash TEXT,
    item_ids TEXT NOT NULL DEFAULT '{}',
    status TEXT,
    is_visible BOOLEAN,
    is_approved BOOLEAN,
    approval_url TEXT,
    outcome TEXT,
    error_class TEXT,
    error_message TEXT,
    issues TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sent_base BIGINT,
    sent_steps INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (portal, account, external_ref)
);
CREATE INDEX listsync_state_ref ON listsync_state (external_ref);
CREATE TABLE listsync_sent (
    portal TEXT NOT NULL,
    account TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (portal, account, external_ref, seq)
);
CREATE TABLE listsync_journal (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal TEXT NOT NULL,
    account TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    op_kind TEXT NOT NULL,
    op_key TEXT,
    op_json TEXT NOT NULL,
    item_json TEXT,
    run_id TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX listsync_journal_key ON listsync_journal (portal, account, external_ref);
CREATE TABLE listsync_audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    run_id TEXT,
    portal TEXT NOT NULL,
    account TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    request_id TEXT,
    message TEXT
);
CREATE INDEX listsync_audit_ref ON listsync_audit (external_ref, id);
"""


def upgrade() -> None:
    for statement in _UPGRADE.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in ("listsync_audit", "listsync_journal", "listsync_sent", "listsync_state"):
        op.execute(f"DROP TABLE {table}")
