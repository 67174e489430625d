"""Reconciling the state store with what the portal really holds.

The state store records what listsync last sent; the portal is the truth. Three moments make
the engine read a listing back (`WriteAdapter.fetch`) and put what it found in the state, so
the ordinary diff then sends only what differs:

- **refresh** (`listsync refresh`, `apply --refresh`): a listing the state knows is read by its
  remote id; fields edited in the portal's own UI show up as drift and are repaired by the
  minimal operations; a record that is gone is forgotten (and re-created by an apply).
- **adoption**: a listing without state is looked up by `external_ref` before its first
  create; a record found (published earlier by listsync with a lost state, or by another
  system) is adopted: its remote id is bound and only what differs is sent.
- **gone**: an update, publish or sale answered 404 for a record the state believed in: the
  record is forgotten and re-created in the same run, once.

Pure functions over `ListingState` and the adapter's `RemoteRecord`; the engine (`_apply.py`)
decides when to call them and records their audit entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from listsync.adapter import (
    Capability,
    Projection,
    RemoteRecord,
    WriteAdapter,
    diff_projection,
)
from listsync.log import get_logger
from listsync.sync._entry import EntryResult, result
from listsync.sync._plan import PlannedEntry
from listsync.sync._store import AuditEntry, ListingState, Outcome, StateStore, utcnow

__all__ = ["Drift", "Reconciler", "can_read_back", "drift_between", "forgotten", "from_remote"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Drift:
    """What differs between two projections, in words for the audit trail and the report."""

    fields: tuple[str, ...] = ()
    media: int = 0
    showings: int = 0
    target: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.media or self.showings or self.target)

    def describe(self) -> str:
        parts = []
        if self.fields:
            parts.append("fields " + ", ".join(self.fields))
        if self.media:
            parts.append(f"{self.media} media item(s)")
        if self.showings:
            parts.append(f"{self.showings} showing(s)")
        if self.target:
            parts.append(f"state {self.target}")
        return "; ".join(parts) or "none"


def can_read_back(adapter: WriteAdapter) -> bool:
    """True when the adapter declares it can read its listings back."""
    return Capability.READ in adapter.capabilities


def drift_between(recorded: Projection | None, remote: Projection) -> Drift:
    """How the portal's copy differs from what the state recorded as sent."""
    if recorded is None:
        return Drift(fields=tuple(sorted(remote.fields)), target=remote.target.value)
    diff = diff_projection(recorded, remote)
    changed = {*diff.field_changes, *diff.ref_changes}
    media = len(diff.media_added) + len(diff.media_removed)
    showings = len(diff.showings_added) + len(diff.showings_changed) + len(diff.showings_removed)
    target = remote.target.value if remote.target is not recorded.target else None
    return Drift(tuple(sorted(changed)), media, showings, target)


def from_remote(state: ListingState, remote: RemoteRecord, projection: Projection) -> ListingState:
    """`state` holding what the portal holds: its projection, ids and status."""
    return state.with_sent(
        projection,
        remote_id=remote.remote_id,
        item_ids=dict(remote.item_ids),
        status=remote.status,
        is_visible=remote.is_visible,
        is_approved=remote.is_approved,
        approval_url=remote.approval_url,
        updated_at=utcnow(),
    )


def forgotten(state: ListingState) -> ListingState:
    """`state` once the portal no longer has the record: nothing sent, no ids."""
    return state.with_sent(
        None,
        remote_id=None,
        item_ids={},
        status=None,
        is_visible=None,
        is_approved=None,
        approval_url=None,
        updated_at=utcnow(),
    )


class Reconciler:
    """Reads listings back for one run and records what it found (refresh, adoption, gone)."""

    def __init__(self, store: StateStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    async def read_back(
        self,
        adapter: WriteAdapter,
        entry: PlannedEntry,
        state: ListingState,
        *,
        adopt_missing: bool,
    ) -> tuple[ListingState, Drift | None]:
        """`state` updated from what the portal holds (refresh); the drift found, or None
        when the listing is on no portal record (gone, or never created)."""
        if state.remote_id is None:
            if adopt_missing:  # no state: a record under its external_ref is adopted
                return await self.adopt(adapter, entry, state), None
            return state, None
        found = await adapter.fetch(entry.external_ref, state.remote_id, like=entry.desired)
        if found is None:
            return self.forget(state, "gone", "no longer on the portal"), None
        remote = found.projection
        if remote is None:
            return state, Drift()
        drift = drift_between(state.sent, remote)
        if drift:
            state = from_remote(state, found, remote)
            audit = AuditEntry(
                state.key, "refresh", "drifted", self.run_id, message=drift.describe()
            )
            self.store.save(state, audit=audit)
            log.info("listing_drifted", drift=drift.describe())
        return state, drift

    async def adopt(
        self, adapter: WriteAdapter, entry: PlannedEntry, state: ListingState
    ) -> ListingState:
        """A record already on the portal under this external_ref becomes this listing's."""
        found = await adapter.fetch(entry.external_ref, None, like=entry.desired)
        if found is None or found.projection is None:
            return state
        state = from_remote(state, found, found.projection)
        message = f"remote id {found.remote_id}"
        self.store.save(
            state, audit=AuditEntry(state.key, "adopt", "adopted", self.run_id, message=message)
        )
        log.info("listing_adopted", remote_id=found.remote_id)
        return state

    def forget(self, state: ListingState, outcome: str, message: str) -> ListingState:
        state = forgotten(state)
        self.store.save(
            state, audit=AuditEntry(state.key, "refresh", outcome, self.run_id, message=message)
        )
        log.info("listing_gone", message=message)
        return state

    def refreshed(
        self, entry: PlannedEntry, state: ListingState, drift: Drift | None
    ) -> EntryResult:
        """The result of `refresh` (nothing sent): in sync, drifted, gone or adopted."""
        if state.remote_id is None:
            outcome = Outcome.GONE if entry.base_hash is not None else Outcome.UNCHANGED
            done: tuple[str, ...] = ("gone",) if outcome is Outcome.GONE else ()
        elif drift is None:
            outcome, done = Outcome.DRIFTED, ("adopted",)
        elif drift:
            outcome, done = Outcome.DRIFTED, (f"drifted: {drift.describe()}",)
        else:
            outcome, done = Outcome.UNCHANGED, ()
        return result(entry, outcome, state, done=done, issues=entry.issues)
