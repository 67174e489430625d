"""Recording how a listing's attempt ended when it did not converge: blocked, failed,
unavailable, or never sent at all (blocked or failed while planned).

Each is one save of the listing's state (its outcome, error and issues with canonical paths)
with one audit entry, so `status` and the report say why.
"""

from __future__ import annotations

import dataclasses

from listsync.errors import FieldIssue
from listsync.sync._entry import EntryResult, result
from listsync.sync._plan import BlockedEntry, FailedEntry, PlannedEntry
from listsync.sync._store import AuditEntry, ListingState, Outcome, StateKey, StateStore, utcnow

__all__ = ["Recorder"]


class Recorder:
    """Records unconverged outcomes of one run in its state store."""

    def __init__(self, store: StateStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def unsent(
        self, entry: BlockedEntry | FailedEntry, outcome: Outcome, error_class: str, message: str
    ) -> None:
        """A listing that was not sent: blocked by the portal's rules, or failed while it was
        planned."""
        key = StateKey(entry.portal, entry.account or "", entry.external_ref)
        state = self.store.get(key) or ListingState(*key)
        if outcome is Outcome.BLOCKED:
            message = "blocked by preflight: " + message
        step = "preflight" if outcome is Outcome.BLOCKED else "plan"
        self._save(state, outcome, error_class, message, entry.issues, step=step, attempt=False)

    def ended(
        self,
        entry: PlannedEntry,
        state: ListingState,
        outcome: Outcome,
        error: tuple[str, str],
        issues: tuple[FieldIssue, ...] = (),
    ) -> EntryResult:
        """A listing whose apply ended without converging; what was sent before stays
        recorded. A blocked listing waits for its data to change, so it counts no attempt."""
        error_class, message = error
        attempt = outcome is not Outcome.BLOCKED
        state = self._save(state, outcome, error_class, message, issues, attempt=attempt)
        return result(entry, outcome, state, error=error, issues=issues)

    def _save(
        self,
        state: ListingState,
        outcome: Outcome,
        error_class: str,
        message: str,
        issues: tuple[FieldIssue, ...],
        *,
        step: str = "apply",
        attempt: bool,
    ) -> ListingState:
        state = dataclasses.replace(
            state,
            outcome=outcome,
            error_class=error_class,
            error_message=message,
            issues=issues,
            attempts=state.attempts + 1 if attempt else state.attempts,
            updated_at=utcnow(),
        )
        audit = AuditEntry(state.key, step, outcome.value, self.run_id, message=message)
        self.store.save(state, audit=audit)
        return state
