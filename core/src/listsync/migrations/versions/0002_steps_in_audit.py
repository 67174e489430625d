"""The sent projection's steps move into the audit rows: one row per operation.

Each operation used to write an audit row and a step row (`listsync_sent`, seq > 0); the audit
row now holds the step too (`sent_base`, `sent_seq`, `step`), and a step saved without an
audit entry is an audit row without an operation (`operation` and `outcome` may be NULL; the
store's `audit()` skips such rows). `listsync_sent` keeps the whole projections (seq 0).
Records left part-way (steps stored) keep their steps, moved with their position.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_UPGRADE = """
ALTER TABLE listsync_audit ALTER COLUMN operation DROP NOT NULL,
    ALTER COLUMN outcome DROP NOT NULL,
    ADD COLUMN sent_base BIGINT,
    ADD COLUMN sent_seq INTEGER,
    ADD COLUMN step TEXT;
INSERT INTO listsync_audit (at, portal, account, external_ref, sent_base, sent_seq, step)
    SELECT s.updated_at, p.portal, p.account, p.external_ref, s.sent_base, p.seq, p.data
    FROM listsync_sent AS p JOIN listsync_state AS s ON s.portal = p.portal
    AND s.account = p.account AND s.external_ref = p.external_ref
    WHERE p.seq > 0 ORDER BY p.portal, p.account, p.external_ref, p.seq;
DELETE FROM listsync_sent WHERE seq > 0
"""

_DOWNGRADE = """
INSERT INTO listsync_sent (portal, account, external_ref, seq, data)
    SELECT DISTINCT ON (a.portal, a.account, a.external_ref, a.sent_seq)
    a.portal, a.account, a.external_ref, a.sent_seq, a.step
    FROM listsync_audit AS a JOIN listsync_state AS s ON s.portal = a.portal
    AND s.account = a.account AND s.external_ref = a.external_ref
    AND s.sent_base = a.sent_base AND a.sent_seq BETWEEN 1 AND s.sent_steps
    WHERE a.step IS NOT NULL
    ORDER BY a.portal, a.account, a.external_ref, a.sent_seq, a.id DESC;
DELETE FROM listsync_audit WHERE operation IS NULL;
ALTER TABLE listsync_audit ALTER COLUMN operation SET NOT NULL,
    ALTER COLUMN outcome SET NOT NULL,
    DROP COLUMN sent_base,
    DROP COLUMN sent_seq,
    DROP COLUMN step
"""


def upgrade() -> None:
    for statement in _UPGRADE.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE.split(";"):
        if statement.strip():
            op.execute(statement)
