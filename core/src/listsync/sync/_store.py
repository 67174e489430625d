"""The state store contract: what listsync remembers between runs.

Everything is keyed by (portal, account, external_ref): a CRM vendor's agencies each have their
own account on a portal, and one account's records, journal and audit trail never mix with
another's. `listsync.sync.SQLiteStateStore` is the default implementation; a CRM can implement
`StateStore` over its own database instead.

The methods are synchronous on purpose: they are short local writes, called from the engine
between portal requests, and a synchronous protocol is the easiest one to implement over a
CRM's ORM.

Failures: a store raises `listsync.errors.StateStoreError` (a `ConfigurationError`) for any
failure of its own storage, whatever the storage's own exception was; the engine stops the run
on it and does not try to record anything more in that store. Only one run may apply from a
store at a time: `StateStore.writer` is that run's lease.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, overload, runtime_checkable

from listsync.adapter import Operation, PortalStatus, ProjectedItem, Projection
from listsync.errors import FieldIssue
from listsync.sync._sent import SentRecord

__all__ = [
    "AuditEntry",
    "Intent",
    "ListingState",
    "Outcome",
    "StateKey",
    "StateStore",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StateKey(NamedTuple):
    """One listing on one portal account."""

    portal: str
    account: str
    external_ref: str


class Outcome(StrEnum):
    """How the last attempt to converge a listing on a portal ended."""

    CONVERGED = "converged"
    UNCHANGED = "unchanged"
    BLOCKED = "blocked"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    """The portal (account) was down or refused for a while: nothing half-sent, next run."""
    DRIFTED = "drifted"
    """`refresh` found the portal's copy different from the state (the state now has it)."""
    GONE = "gone"
    """`refresh` found the record gone from the portal (an apply re-creates it)."""
    BUSY = "busy"
    """Another run or worker sharing the state store was applying this listing: left to it."""
    INVALID = "invalid"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    PLANNED = "planned"


class _SentJson:
    """`ListingState.sent_json` (a descriptor-typed dataclass field): the text given, or the
    one `with_sent` left to dump on first read.

    A state made by `with_sent` holds its `SentRecord` in the field's slot instead of the text,
    and reads the text as `SentRecord.json` (the very string, dumped once). A store writes the
    steps of a listing part-way through its plan without the whole projection, so dumping it
    after every operation (a few KB of JSON each time) was work thrown away; the text read is
    the same `model_dump_json()` as before.
    """

    @overload
    def __get__(self, state: None, owner: type[Any] | None = None) -> None: ...
    @overload
    def __get__(self, state: ListingState, owner: type[Any] | None = None) -> str | None: ...
    def __get__(self, state: ListingState | None, owner: type[Any] | None = None) -> str | None:
        if state is None:
            return None  # the field's default (dataclasses reads it from the class)
        value = state.__dict__["sent_json"]
        if isinstance(value, SentRecord):
            return value.json
        return value  # type: ignore[no-any-return]

    def __set__(self, state: ListingState, value: str | SentRecord | None) -> None:
        state.__dict__["sent_json"] = value


def holds_text_of(state: ListingState, record: SentRecord) -> bool:
    """True when `state.sent_json` is `record.json` (the very string), without dumping it."""
    value = state.__dict__["sent_json"]
    return value is record or (isinstance(value, str) and value is record.json)


@dataclass(frozen=True)
class ListingState:
    """What listsync knows about one listing on one portal account.

    Attributes:
        remote_id: the portal's id of the listing, once created.
        sent_json: the projection last *sent* (JSON), updated after every successful operation,
            so a run killed half-way re-plans only what is left. Use `sent` to read it.
        sent_hash: the digest of that projection; equal to the desired digest = nothing to do.
        item_ids: media/showing key -> the portal's id of that item (never changed in place:
            a new state gets a new dict).
        status, is_visible, is_approved, approval_url: the portal-side status as last reported.
        outcome: how the last attempt ended; `error_class`, `error_message` and `issues` say why
            when it did not converge (issues carry canonical field paths).
        attempts: attempts since the last success.
        sent_record: how `sent_json` and `item_ids` stand among what the store holds (set by
            `with_sent` and by the SQLite store, which then writes one small step instead of
            the whole projection); other stores may ignore it.
    """

    portal: str
    account: str
    external_ref: str
    remote_id: str | None = None
    if TYPE_CHECKING:
        sent_json: str | None = None
    else:
        sent_json: str | None = _SentJson()
    sent_hash: str | None = None
    item_ids: dict[str, str] = field(default_factory=dict)
    status: PortalStatus | None = None
    is_visible: bool | None = None
    is_approved: bool | None = None
    approval_url: str | None = None
    outcome: Outcome | None = None
    error_class: str | None = None
    error_message: str | None = None
    issues: tuple[FieldIssue, ...] = ()
    attempts: int = 0
    created_at: dt.datetime = field(default_factory=utcnow)
    updated_at: dt.datetime = field(default_factory=utcnow)
    sent_record: SentRecord | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> StateKey:
        return StateKey(self.portal, self.account, self.external_ref)

    @property
    def sent(self) -> Projection | None:
        """The last sent projection, parsed (once per record)."""
        value = self.__dict__["sent_json"]
        if value is None:
            return None
        if isinstance(value, SentRecord):
            return value.projection
        record = self.sent_record
        if record is not None and holds_text_of(self, record):
            return record.projection
        return Projection.model_validate_json(value)

    @property
    def exists(self) -> bool:
        """True when the listing exists on the portal (created and not deleted)."""
        return self.__dict__["sent_json"] is not None and self.status is not PortalStatus.DELETED

    def with_sent(
        self, sent: Projection | None, *, part_way: bool = False, **changes: Any
    ) -> ListingState:
        """A copy holding `sent` as the last sent projection, and `changes` (other fields, as
        in `dataclasses.replace`: the engine makes each new state in one copy).

        Args:
            sent: the projection now on the portal (None: nothing is).
            part_way: the engine's states between two operations of one listing. They carry
                no digest: a listing part-way through its plan can never be "nothing to do",
                and a missing hash only makes the next run diff the sent projection (the
                digest cost more CPU than the request after every operation). And they are
                recorded as a step after this state's projection rather than whole.
        """
        if sent is None:
            return dataclasses.replace(
                self, sent_json=None, sent_hash=None, sent_record=None, **changes
            )
        item_ids = changes.get("item_ids", self.item_ids)
        record = self.sent_record
        if part_way and record is not None:  # a step from the position `record` names
            record = record.then(sent, None, item_ids)
        else:
            record = SentRecord.whole(sent, None, item_ids)
        if not changes.keys() <= _CHANGEABLE:
            unknown = sorted(changes.keys() - _CHANGEABLE)
            raise TypeError(f"with_sent() got unexpected field(s) {unknown}")
        # `dataclasses.replace` without its field-by-field __init__ (≈ 3 µs per operation): the
        # fields are copied as they are (no __post_init__, no validation to run), then changed.
        state = object.__new__(ListingState)
        values = state.__dict__
        values.update(self.__dict__)
        values.update(changes)
        values["sent_json"] = record  # its text: `record.json`, when read
        values["sent_hash"] = None if part_way else sent.digest()
        values["sent_record"] = record
        return state


_CHANGEABLE = frozenset(f.name for f in dataclasses.fields(ListingState)) - {
    "sent_json",
    "sent_hash",
    "sent_record",
}


@dataclass(frozen=True)
class Intent:
    """A journalled non-idempotent operation: recorded before it is sent, cleared after.

    An intent still present when a run starts means the previous run may have sent it and died
    before recording the answer; the engine asks the adapter to `recover` it first.
    `item` is the media/showing item the operation created, so a recovered item can be adopted
    exactly as it was sent.
    """

    key: StateKey
    op: Operation
    item: ProjectedItem | None = None
    run_id: str | None = None
    created_at: dt.datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One operation as it happened; never holds a secret (messages are redacted errors)."""

    key: StateKey
    operation: str
    outcome: str
    run_id: str | None = None
    request_id: str | None = None
    message: str | None = None
    at: dt.datetime = field(default_factory=utcnow)


@runtime_checkable
class StateStore(Protocol):
    """Where listsync keeps per-(portal, account, listing) state, the journal and the audit."""

    def get(self, key: StateKey) -> ListingState | None:
        """The state of one listing on one portal account, or None if never seen."""
        ...

    def records(
        self, external_ref: str | None = None, *, portal: str | None = None
    ) -> Iterator[ListingState]:
        """Every state, optionally for one listing and/or one portal, ordered by key."""
        ...

    def save(
        self,
        state: ListingState,
        *,
        audit: AuditEntry | None = None,
        clear_intent: int | None = None,
        intent: Intent | None = None,
    ) -> int | None:
        """Write `state`, an audit entry, the removal of intent `clear_intent` and the journal
        entry `intent` atomically; returns the id of `intent` (None without one).

        The engine records an operation and journals the next one in one transaction: one
        commit per operation instead of two.
        """
        ...

    def add_intent(self, intent: Intent) -> int:
        """Record an intent durably before its operation is sent; returns its id."""
        ...

    def transaction(self) -> AbstractContextManager[object]:
        """A block whose writes are committed together when it ends (or not at all).

        The engine records the operations of all listings in flight in one (group commit);
        a store whose writes are each atomic and durable may return `contextlib.nullcontext()`.
        """
        ...

    def intents(self, key: StateKey) -> list[Intent]:
        """Pending intents of one listing on one portal account, oldest first."""
        ...

    def clear_intent(self, intent_id: int) -> None: ...

    def audit(
        self, external_ref: str, *, portal: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The audit trail of one listing, newest last."""
        ...

    def writer(
        self, run_id: str | None = None, *, wait: float = 0.0
    ) -> AbstractContextManager[object]:
        """The writer lease, held by a run that applies for as long as it runs.

        Two runs applying from one store at once would both create a listing neither has a
        remote id for (a duplicate on the portal, orphaned since the store keeps one id). A
        second run waits up to `wait` seconds for the holder to finish, then gets
        `listsync.errors.StateLockedError` naming the holder (pid, host, start time, run id).
        The lease must be released when its holder dies, however it dies (the SQLite store
        uses a lock the operating system releases). A store that only one process can ever
        use may return `contextlib.nullcontext()`.

        Raises:
            StateLockedError: another run holds the lease after `wait` seconds.
            StateStoreError: the store cannot be written at all.
        """
        ...

    def claim(self, key: StateKey) -> AbstractContextManager[bool]:
        """The lease on one listing on one portal account, held for the block: True when this
        run may work on the listing, False (at once, without waiting) when another run or
        worker holds it. Read the listing's state and intents only once it is held.

        Stores shared by many runs (PostgreSQL) hold it per listing and release it when the
        holder dies; a store with one writer (SQLite, whose `writer()` is the whole store's
        lease) always answers True. A store without this method is used as if it answered
        True (`listsync.sync._claim.claim`).
        """
        ...

    def close(self) -> None: ...
