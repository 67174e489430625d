"""Rows of the SQLite state store: `ListingState`, `Intent` and `AuditEntry` to and from the
values of `_sqlschema`'s statements."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import TypeAdapter

from listsync.adapter import Operation, PortalStatus, ProjectedItem
from listsync.errors import FieldIssue
from listsync.sync._sent import SentRecord
from listsync.sync._store import AuditEntry, Intent, ListingState, Outcome

__all__ = [
    "COMPACT",
    "audit_row",
    "audit_to_row",
    "intent_values",
    "small_row",
    "state_from_row",
    "state_to_row",
    "when",
]

COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options builds one per call


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def when(value: str | dt.datetime) -> dt.datetime:
    """A timestamp column: ISO text (SQLite) or a datetime already (PostgreSQL)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


OPERATION_JSON = TypeAdapter(Operation)
"""An intent's operation as JSON (`Operation` is a dataclass: no `model_dump_json` of its own);
the text a pydantic model of the same fields wrote, so stores written before read back."""
ITEM_JSON = TypeAdapter(ProjectedItem)
"""An intent's item as JSON, like `OPERATION_JSON`."""


def intent_values(intent: Intent) -> tuple[Any, ...]:
    item = intent.item
    return (
        intent.op.kind.value,
        intent.op.key,
        OPERATION_JSON.dump_json(intent.op).decode(),
        ITEM_JSON.dump_json(item).decode() if item is not None else None,
        intent.run_id,
        intent.created_at.isoformat(),
    )


def audit_to_row(entry: AuditEntry) -> tuple[Any, ...]:
    return (
        entry.at.isoformat(),
        entry.run_id,
        *entry.key,
        entry.operation,
        entry.outcome,
        entry.request_id,
        entry.message,
    )


def audit_row(
    state: ListingState, entry: AuditEntry | None, step: SentRecord | None
) -> tuple[Any, ...]:
    """`INSERT_AUDIT`'s values: the operation's entry and the step it made in the sent
    projection (`step.step` at position `step.depth` after `step.base`), either may be absent
    (a step without an entry has no operation: `audit()` skips it)."""
    head = (
        audit_to_row(entry)
        if entry is not None
        else (state.updated_at.isoformat(), None, *state.key, None, None, None, None)
    )
    if step is None:
        return (*head, None, None, None)
    return (*head, step.base, step.depth, step.step)


def small_row(s: ListingState, record: SentRecord) -> tuple[Any, ...]:
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


def state_to_row(s: ListingState, base: int | None) -> tuple[Any, ...]:
    return (
        s.portal,
        s.account,
        s.external_ref,
        s.remote_id,
        s.sent_hash,
        COMPACT.encode(s.item_ids) if s.item_ids else "{}",
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


def state_from_row(
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
        created_at=when(created),
        updated_at=when(updated),
        sent_record=record,
    )
