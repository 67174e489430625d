"""One plan entry as the engine applies it: the states it goes through and its result.

Pure functions over `ListingState` and the adapter's answers, kept apart from the engine's
scheduling and retries (`_apply.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from listsync.adapter import (
    Capability,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    PortalStatus,
    ProjectedItem,
    Projection,
    apply_result_to_sent,
)
from listsync.errors import FieldIssue
from listsync.sync._plan import PlanEntry, PlannedEntry
from listsync.sync._store import Intent, ListingState, Outcome

__all__ = [
    "EntryResult",
    "absorbed",
    "advanced",
    "context",
    "converged",
    "intent_projection",
    "item_for",
    "result",
]

_DEFAULT_STATUS = {
    OpKind.PUBLISH: PortalStatus.LIVE,
    OpKind.UNPUBLISH: PortalStatus.WITHDRAWN,
    OpKind.MARK_SOLD: PortalStatus.SOLD,
    OpKind.DELETE: PortalStatus.DELETED,
}


@dataclass(frozen=True)
class EntryResult:
    """The outcome of one plan entry (one listing on one portal account)."""

    entry: PlanEntry
    outcome: Outcome
    done: tuple[str, ...] = ()
    error_class: str | None = None
    error_message: str | None = None
    issues: tuple[FieldIssue, ...] = ()
    remote_id: str | None = None
    status: PortalStatus | None = None
    is_visible: bool | None = None
    is_approved: bool | None = None
    approval_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.CONVERGED, Outcome.UNCHANGED, Outcome.PLANNED)

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        out: dict[str, Any] = {
            "external_ref": e.external_ref,
            "portal": e.portal,
            "account": e.account,
            "action": e.action.value,
            "outcome": self.outcome.value,
            "operations": list(self.done) if self.done else _described(e),
        }
        optional = {
            "line": e.line,
            "remote_id": self.remote_id,
            "status": self.status.value if self.status else None,
            "is_visible": self.is_visible,
            "is_approved": self.is_approved,
            "approval_url": self.approval_url,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.error_class:
            out["error"] = {"class": self.error_class, "message": self.error_message}
        if self.issues:
            out["issues"] = [i.model_dump(mode="json", exclude_none=True) for i in self.issues]
        return out


def _described(entry: PlanEntry) -> list[str]:
    if isinstance(entry, PlannedEntry):
        return [op.describe() for op in entry.operations]
    return []


def result(
    entry: PlannedEntry,
    outcome: Outcome,
    state: ListingState,
    *,
    done: tuple[str, ...] = (),
    error: tuple[str, str] | None = None,
    issues: tuple[FieldIssue, ...] = (),
) -> EntryResult:
    return EntryResult(
        entry=entry,
        outcome=outcome,
        done=done,
        error_class=error[0] if error else None,
        error_message=error[1] if error else None,
        issues=issues,
        remote_id=state.remote_id,
        status=state.status,
        is_visible=state.is_visible,
        is_approved=state.is_approved,
        approval_url=state.approval_url,
    )


def absorbed(
    state: ListingState,
    op: Operation,
    answer: OperationResult,
    caps: frozenset[Capability],
    now: dt.datetime,
) -> dict[str, Any]:
    """The fields of `state` that change when `op` succeeded with `answer`: remote id, item
    ids, portal status (for `ListingState.with_sent`, which makes the new state in one copy)."""
    remote_id, item_ids = state.remote_id, state.item_ids
    if op.kind is OpKind.CREATE:
        remote_id = answer.remote_id or remote_id
    elif op.kind in (OpKind.MEDIA_ADD, OpKind.SHOWING_CREATE) and op.key and answer.remote_id:
        item_ids = {**item_ids, op.key: answer.remote_id}
    elif op.kind in (OpKind.MEDIA_REMOVE, OpKind.SHOWING_DELETE) and op.key in item_ids:
        item_ids = {k: v for k, v in item_ids.items() if k != op.key}
    elif op.kind is OpKind.DELETE:
        item_ids = {}
    status = answer.status or _DEFAULT_STATUS.get(op.kind) or state.status
    if op.kind is OpKind.CREATE and answer.status is None:
        status = PortalStatus.DRAFT if Capability.PUBLISH in caps else PortalStatus.LIVE
    return {
        "remote_id": remote_id,
        "item_ids": item_ids,
        "status": status,
        "is_visible": answer.is_visible if answer.is_visible is not None else state.is_visible,
        "is_approved": answer.is_approved if answer.is_approved is not None else state.is_approved,
        "approval_url": answer.approval_url or state.approval_url,
        "updated_at": now,
    }


def advanced(
    state: ListingState,
    sent: Projection | None,
    entry: PlannedEntry,
    op: Operation,
    answer: OperationResult,
    *,
    caps: frozenset[Capability],
    now: dt.datetime,
    last: bool,
) -> tuple[ListingState, Projection]:
    """The state and sent projection once `op` succeeded with `answer`: after the `last`
    operation the converged state, else a part-way one (recorded as a step)."""
    changes = absorbed(state, op, answer, caps, now)
    if last:
        return converged(state, entry, entry.desired, **changes), entry.desired
    sent = apply_result_to_sent(sent, entry.desired, op, caps)
    return state.with_sent(sent, part_way=True, **changes), sent


def converged(
    state: ListingState, entry: PlannedEntry, desired: Projection, **changes: Any
) -> ListingState:
    """`state` once every operation of `entry` succeeded: `desired` is what the portal has.

    `changes` are further fields to set (`absorbed` of the last operation, or `updated_at`).
    """
    final = {
        "outcome": Outcome.CONVERGED,
        "error_class": None,
        "error_message": None,
        "issues": entry.issues,
        "attempts": 0,
    }
    return state.with_sent(desired, **{**changes, **final})


def context(entry: PlannedEntry, state: ListingState, desired: Projection) -> OperationContext:
    return OperationContext(
        external_ref=entry.external_ref,
        remote_id=state.remote_id,
        projection=desired,
        item_ids=dict(state.item_ids),
        listing=entry.listing,
    )


def item_for(op: Operation, desired: Projection) -> ProjectedItem | None:
    items = desired.media if op.kind is OpKind.MEDIA_ADD else desired.showings
    return next((i for i in items if i.key == op.key), None)


def intent_projection(intent: Intent, desired: Projection) -> Projection:
    """The projection as it was when the intent was journalled (for adopting its result)."""
    op, item = intent.op, intent.item
    return Projection(
        external_ref=desired.external_ref,
        fields=dict(op.payload) if op.kind is OpKind.CREATE else {},
        media=(item,) if item is not None and op.kind is OpKind.MEDIA_ADD else (),
        showings=(item,) if item is not None and op.kind is OpKind.SHOWING_CREATE else (),
        target=desired.target,
    )
