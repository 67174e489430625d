"""Plan: compare desired listings with the state store and list the operations per portal.

For each listing and each portal it names: route to the portal account of its agency, let the
adapter `prepare` it (the portal's offline rules and the projection, in one pass; errors block
the listing), and compare the projection's digest with the one last sent: equal means nothing to
do, otherwise the operations come from the diff (`default_plan`, or the adapter's own `plan`). A
portal the store says the listing was on, but which the listing no longer names, gets a removal
(a projection whose target is ABSENT).

An entry is one of four kinds (`PlanEntry`): an invalid input line, a blocked listing, a listing
whose adapter failed while planning it, or a planned one. Only planned entries are applied.

Planning streams: `Planner.stream()` yields entries as it reads listings, so a plan of a
100,000-line file never holds the listings in memory: it reads `WINDOW` listings at a time
and, when the state store can (`records_for`), looks their records up with one statement
instead of one per listing; from a `read_listings` reader, the records of the next
`LOOKAHEAD` lines are looked up before they are parsed, from the refs written on them.
`Plan` is the in-memory form the embedding API returns.
Rendering a plan is the CLI's business.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Any, ClassVar, cast

from listsync.adapter import (
    CustomPlan,
    Operation,
    OpKind,
    Projection,
    TargetState,
    WriteAdapter,
    default_plan,
    diff_projection,
    new_projection,
)
from listsync.adapter._diff import new_listing_plan
from listsync.errors import ConfigurationError, FieldIssue, InvalidListingError, Severity
from listsync.log import get_logger
from listsync.model import Listing
from listsync.redact import redact_text
from listsync.sync._accounts import AdapterPool
from listsync.sync._store import ListingState, StateStore

__all__ = [
    "Action",
    "BlockedEntry",
    "FailedEntry",
    "InvalidEntry",
    "Plan",
    "PlanEntry",
    "PlannedEntry",
    "Planner",
    "SourceItem",
]

log = get_logger(__name__)

SourceItem = Listing | tuple[int, Listing | InvalidListingError]
"""What the planner reads: listings, or `(line number, listing or error)` from a JSONL file."""

_Lines = Iterable[tuple[int, Listing | InvalidListingError]]
"""What `listsync.io.read_listings` yields."""

LOOKAHEAD = 120
"""Lines of a `ListingReader` whose records `Planner.stream` looks up with one statement,
from the refs written on them, before it parses them (so no parsed listing waits for the
others: the window below is kept small for that). Read from a pipe, planning starts once
that many lines (or the end of the input) have arrived."""

WINDOW = 6
"""Listings (of any other source) read ahead by `Planner.stream` to look their records up together.

Small on purpose: the listings of a window stay alive while it is planned, and a window of 64
(about 6,000 container objects) outlived the garbage collector's young generations, so every
listing was promoted to the oldest one and paid for full collections of the whole heap (about
30 us CPU per listing, 15% of planning, in `benchmarks/plan_cpu.py`). A window of 6 typical
listings stays under the youngest generation's threshold (700 objects): the look-up is still
one statement for 6 listings (about 7 us per listing on SQLite, 1-2 on PostgreSQL), and the
collector runs about 100 times per 10,000 listings (300 with windows of 8, 950 with 64)."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOTHING = "nothing"
    BLOCKED = "blocked"
    INVALID = "invalid"
    FAILED = "failed"


def _issues_json(issues: tuple[FieldIssue, ...]) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json", exclude_none=True) for i in issues]


def _errors_text(issues: tuple[FieldIssue, ...]) -> str:
    return "; ".join(str(i) for i in issues if i.severity is Severity.ERROR)


@dataclass(frozen=True, slots=True)
class InvalidEntry:
    """An input line that is not a valid listing: it never reached a portal.

    Attributes:
        issues: the validation issues, with canonical paths.
        message: the whole validation message.
    """

    external_ref: str
    issues: tuple[FieldIssue, ...]
    message: str
    line: int | None = None
    portal: None = None
    account: None = None
    action: ClassVar[Action] = Action.INVALID
    needs_apply: ClassVar[bool] = False

    def describe(self) -> str:
        return _errors_text(self.issues) or self.message

    def to_json(self) -> dict[str, Any]:
        return _entry_json(self, operations=[], message=self.message)


@dataclass(frozen=True, slots=True)
class BlockedEntry:
    """A listing the portal's rules refuse (or that cannot be routed): nothing is sent.

    Attributes:
        account: None when no account serves the listing's agency.
        issues: why, with canonical paths and rule ids (errors), and any warnings.
    """

    external_ref: str
    portal: str
    account: str | None
    issues: tuple[FieldIssue, ...]
    line: int | None = None
    action: ClassVar[Action] = Action.BLOCKED
    needs_apply: ClassVar[bool] = False

    def describe(self) -> str:
        return _errors_text(self.issues)

    def to_json(self) -> dict[str, Any]:
        return _entry_json(self, operations=[])


@dataclass(frozen=True, slots=True)
class FailedEntry:
    """A listing whose adapter raised while planning it: that listing fails, nothing is sent.

    Attributes:
        error_class / message: what was raised.
    """

    external_ref: str
    portal: str
    account: str | None
    error_class: str
    message: str
    line: int | None = None
    issues: tuple[FieldIssue, ...] = ()
    action: ClassVar[Action] = Action.FAILED
    needs_apply: ClassVar[bool] = False

    def describe(self) -> str:
        return f"{self.error_class}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return _entry_json(self, operations=[], message=self.describe())


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    """What to do for one listing on one portal account.

    Attributes:
        action: create / update / delete / nothing, from the operations.
        operations: in the order they must run.
        issues: warnings of the portal's rules, with canonical paths.
        desired: the projection to converge to.
        sent: the projection the state store says the portal holds (None: none yet).
        base_hash: the digest of `sent` as recorded when planning.
        listing: the canonical listing (not serialised); None for the removal of a portal
            record the input does not name (`--prune`).
        line: the input line, when read from a file.
    """

    external_ref: str
    portal: str
    account: str
    action: Action
    operations: tuple[Operation, ...]
    desired: Projection = field(repr=False)
    sent: Projection | None = field(repr=False)
    base_hash: str | None
    listing: Listing | None = field(repr=False)
    issues: tuple[FieldIssue, ...] = ()
    line: int | None = None

    @property
    def needs_apply(self) -> bool:
        """True when apply has something to send or to record."""
        return bool(self.operations) or self.base_hash != self.desired.digest()

    def describe(self) -> str:
        counts = Counter(
            op.describe() if op.kind is OpKind.UPDATE else op.kind.value for op in self.operations
        )
        return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items())

    def to_json(self) -> dict[str, Any]:
        operations = [
            {
                "kind": op.kind.value,
                "key": op.key,
                "fields": sorted([*op.changes, *op.refs]) or None,
            }
            for op in self.operations
        ]
        return _entry_json(self, operations=operations)


PlanEntry = InvalidEntry | BlockedEntry | FailedEntry | PlannedEntry
"""One listing on one portal account, as planned (or why it was not)."""


def _entry_json(
    entry: PlanEntry, *, operations: list[dict[str, Any]], message: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "external_ref": entry.external_ref,
        "portal": entry.portal,
        "account": entry.account,
        "action": entry.action.value,
        "operations": operations,
        "issues": _issues_json(entry.issues),
    }
    if entry.line is not None:
        out["line"] = entry.line
    if message:
        out["message"] = message
    return out


def _classify(ops: Iterable[Operation]) -> Action:
    """CREATE when an operation creates the listing, else DELETE when one deletes it, else
    UPDATE when there is any operation, else NOTHING."""
    action = Action.NOTHING
    for op in ops:
        kind = op.kind
        if kind == OpKind.CREATE:
            return Action.CREATE
        if kind == OpKind.DELETE:
            action = Action.DELETE
        elif action is Action.NOTHING:
            action = Action.UPDATE
    return action


class Planner:
    """Plans listings against the state store through the adapters of an `AdapterPool`.

    What an adapter raises for one listing stays with that listing: `InvalidListingError` makes
    a `BlockedEntry`, anything else a `FailedEntry` (see `listsync.adapter`).

    Args:
        portals: restrict planning to these portals (None: every portal a listing names).
    """

    def __init__(
        self, pool: AdapterPool, store: StateStore, *, portals: Iterable[str] | None = None
    ) -> None:
        self.pool = pool
        self.store = store
        self.portals = frozenset(portals) if portals is not None else None
        self._custom: dict[type[Any], bool] = {}

    def _selected(self, portal: str) -> bool:
        return self.portals is None or portal in self.portals

    def stream(self, items: Iterable[SourceItem]) -> Iterator[PlanEntry]:
        """Plan entries as the listings are read, `WINDOW` at a time (no listing is kept
        after its window's entries)."""
        batch: Callable[[list[str]], Mapping[str, list[ListingState]]] | None
        batch = getattr(self.store, "records_for", None)
        refs_ahead: Callable[[int], list[str]] | None = getattr(items, "refs_ahead", None)
        if batch is not None and refs_ahead is not None:
            yield from self._stream_ahead(iter(cast("_Lines", items)), batch, refs_ahead)
            return
        source = iter(items)
        while window := list(islice(source, WINDOW if batch is not None else 1)):
            found = None
            if batch is not None:
                found = batch([listing.external_ref for _, listing in _listings(window)])
            yield from self._plan_items(window, found)

    def _stream_ahead(
        self,
        reader: Iterator[tuple[int, Listing | InvalidListingError]],
        batch: Callable[[list[str]], Mapping[str, list[ListingState]]],
        refs_ahead: Callable[[int], list[str]],
    ) -> Iterator[PlanEntry]:
        """`stream` of a `listsync.io.ListingReader`: the records of the next `LOOKAHEAD`
        lines are looked up from the refs written on them before those lines are parsed; then
        they are parsed and planned `WINDOW` at a time (a few parses in a row, then their
        plans, run faster than one of each in turn). A listing whose ref was not read ahead
        (written with an escape) is looked up on its own."""
        while True:
            found = batch(refs_ahead(LOOKAHEAD))
            read = 0
            while read < LOOKAHEAD and (window := list(islice(reader, WINDOW))):
                read += len(window)
                yield from self._plan_items(window, found)
            if read < LOOKAHEAD:
                return

    def _plan_items(
        self,
        window: Iterable[SourceItem],
        found: Mapping[str, list[ListingState]] | None,
    ) -> Iterator[PlanEntry]:
        """The entries of a window's items; `found`: records looked up for them (a listing
        whose ref it does not hold, or every listing when None, is looked up on its own)."""
        for item in window:
            line: int | None
            parsed: Listing | InvalidListingError
            line, parsed = (None, item) if isinstance(item, Listing) else item
            if isinstance(parsed, InvalidListingError):
                yield _invalid_entry(parsed, line)
                continue
            records = found.get(parsed.external_ref) if found is not None else None
            yield from self.plan_listing(parsed, line=line, records=records)

    def plan_listing(
        self,
        listing: Listing,
        *,
        line: int | None = None,
        records: Iterable[ListingState] | None = None,
    ) -> list[PlanEntry]:
        """The entries of one listing: one per portal it names, plus removals.

        Args:
            line: the input line the listing was read from, recorded in its entries.
            records: the listing's records in the state store, when the caller looked them up
                (None: looked up here).
        """
        if records is None:
            records = self.store.records(listing.external_ref)
        states = {(s.portal, s.account): s for s in records} if records else _NO_STATES
        plan, chosen = self.plan_portal, self.portals
        entries = [
            plan(listing, portal, index, states, line=line)
            for index, portal in enumerate(listing.portals)
            if chosen is None or portal in chosen
        ]
        for state in states.values():
            if state.portal in listing.portals or not self._selected(state.portal):
                continue
            if state.portal in self.pool and _present(state):
                entries.append(self._plan_removal(listing, state, line))
        return entries

    def plan_portal(
        self,
        listing: Listing,
        portal: str,
        index: int,
        states: dict[tuple[str, str], ListingState],
        *,
        line: int | None = None,
    ) -> PlanEntry:
        """The entry of `listing` on `portal` (`index`: its place in `listing.portals`)."""
        ref = listing.external_ref
        routed = self._adapter_for(listing, portal, index, line)
        if isinstance(routed, BlockedEntry):
            return routed
        account, adapter = routed
        try:
            prepared = adapter.prepare(listing)
        except InvalidListingError as exc:
            return BlockedEntry(ref, portal, account, exc.issues, line)
        except Exception as exc:  # an adapter bug fails this listing, never the run
            return _failed(ref, portal, account, exc, line=line, call="prepare")
        if prepared.projection is None:
            return BlockedEntry(ref, portal, account, prepared.issues, line)
        return self._entry(
            listing,
            portal=portal,
            account=account,
            desired=prepared.projection,
            state=states.get((portal, account)),
            issues=prepared.issues,
            adapter=adapter,
            line=line,
        )

    def _adapter_for(
        self, listing: Listing, portal: str, index: int, line: int | None
    ) -> tuple[str, WriteAdapter] | BlockedEntry:
        """The account serving `listing` on `portal` and its adapter, or why there is none."""
        ref = listing.external_ref
        if portal not in self.pool:
            issue = FieldIssue(
                path=f"portals[{index}]",
                message=f"portal {portal!r} is not configured",
                portal=portal,
            )
            return BlockedEntry(ref, portal, None, (issue,), line)
        agency = listing.agency.external_ref
        account = self.pool.route(portal, agency)
        if account is None:
            issue = FieldIssue(
                path="agency.external_ref",
                message=f"agency {agency!r} has no account on {portal}",
                portal=portal,
            )
            return BlockedEntry(ref, portal, None, (issue,), line)
        try:
            return account, self.pool.adapter(portal, account)
        except ConfigurationError as exc:
            issue = FieldIssue(path="agency.external_ref", message=str(exc), portal=portal)
            return BlockedEntry(ref, portal, account, (issue,), line)

    def _entry(
        self,
        listing: Listing | None,
        *,
        external_ref: str | None = None,
        portal: str,
        account: str,
        desired: Projection,
        state: ListingState | None,
        issues: tuple[FieldIssue, ...] = (),
        adapter: WriteAdapter | None = None,
        line: int | None = None,
    ) -> PlanEntry:
        """The entry of one portal account; `adapter` is its adapter if the caller has it.

        A listing to be off the portal (withdrawn) that is not on it stays off: nothing is
        created just to be unpublished.
        """
        ref = listing.external_ref if listing is not None else external_ref or desired.external_ref
        base_hash = state.sent_hash if state is not None else None
        sent = state.sent if state is not None else None
        if desired.target is TargetState.UNPUBLISHED and (
            sent is None or sent.target is TargetState.ABSENT
        ):
            desired = _absent(ref)
        ops: list[Operation] = []
        if base_hash is None or base_hash != desired.digest():
            try:
                if adapter is None:
                    adapter = self.pool.adapter(portal, account)
                ops = self._operations(adapter, sent, desired)
            except InvalidListingError as exc:
                blocking = tuple(issues) + exc.issues
                return BlockedEntry(ref, portal, account, blocking, line)
            except Exception as exc:  # an adapter bug fails this listing, never the run
                return _failed(ref, portal, account, exc, line=line, call="plan")
        return _planned_entry(
            ref, portal, account, _classify(ops), tuple(ops), desired, sent, base_hash, listing,
            issues, line,
        )  # fmt: skip

    def _operations(
        self, adapter: WriteAdapter, sent: Projection | None, desired: Projection
    ) -> list[Operation]:
        """The adapter's own plan of the diff when it has one, else the default plan (of a
        listing the portal does not hold, without making the diff: `new_listing_plan`)."""
        cls = type(adapter)
        custom = self._custom.get(cls)
        if custom is None:
            custom = self._custom[cls] = isinstance(adapter, CustomPlan)
        if custom:
            return list(cast("CustomPlan", adapter).plan(diff_projection(sent, desired)))
        if sent is None or sent.target is TargetState.ABSENT:
            return new_listing_plan(desired, adapter.capabilities)
        return default_plan(diff_projection(sent, desired), adapter.capabilities)

    def removal(self, state: ListingState) -> PlanEntry:
        """The entry that takes a record off its portal (delete, else unpublish), for a listing
        the input does not name (`--prune`)."""
        return self._entry(
            None,
            external_ref=state.external_ref,
            portal=state.portal,
            account=state.account,
            desired=_absent(state.external_ref),
            state=state,
        )

    def _plan_removal(self, listing: Listing, state: ListingState, line: int | None) -> PlanEntry:
        desired = _absent(listing.external_ref)
        return self._entry(
            listing,
            portal=state.portal,
            account=state.account,
            desired=desired,
            state=state,
            line=line,
        )

    def replan(self, entry: PlannedEntry, state: ListingState | None) -> PlanEntry:
        """The same entry planned again from `state` (after recovery, or a stale plan)."""
        return self._entry(
            entry.listing,
            external_ref=entry.external_ref,
            portal=entry.portal,
            account=entry.account,
            desired=entry.desired,
            state=state,
            issues=entry.issues,
            line=entry.line,
        )


_SLOTS = PlannedEntry.__dict__
_SET_REF = _SLOTS["external_ref"].__set__
_SET_PORTAL = _SLOTS["portal"].__set__
_SET_ACCOUNT = _SLOTS["account"].__set__
_SET_ACTION = _SLOTS["action"].__set__
_SET_OPERATIONS = _SLOTS["operations"].__set__
_SET_DESIRED = _SLOTS["desired"].__set__
_SET_SENT = _SLOTS["sent"].__set__
_SET_BASE_HASH = _SLOTS["base_hash"].__set__
_SET_LISTING = _SLOTS["listing"].__set__
_SET_ISSUES = _SLOTS["issues"].__set__
_SET_LINE = _SLOTS["line"].__set__
_NEW_OBJECT = object.__new__


def _planned_entry(  # noqa: PLR0917  (every field of the entry, in order)
    external_ref: str,
    portal: str,
    account: str,
    action: Action,
    operations: tuple[Operation, ...],
    desired: Projection,
    sent: Projection | None,
    base_hash: str | None,
    listing: Listing | None,
    issues: tuple[FieldIssue, ...],
    line: int | None,
) -> PlannedEntry:
    """`PlannedEntry(...)` of these values, each slot set directly instead of by the frozen
    dataclass's `object.__setattr__` (the planner makes one per listing and portal)."""
    entry = _NEW_OBJECT(PlannedEntry)
    _SET_REF(entry, external_ref)
    _SET_PORTAL(entry, portal)
    _SET_ACCOUNT(entry, account)
    _SET_ACTION(entry, action)
    _SET_OPERATIONS(entry, operations)
    _SET_DESIRED(entry, desired)
    _SET_SENT(entry, sent)
    _SET_BASE_HASH(entry, base_hash)
    _SET_LISTING(entry, listing)
    _SET_ISSUES(entry, issues)
    _SET_LINE(entry, line)
    return entry


_NO_STATES: dict[tuple[str, str], ListingState] = {}
"""The states of a listing without records (never changed: `plan_portal` only reads them)."""


def _listings(window: list[SourceItem]) -> Iterator[tuple[int | None, Listing]]:
    """The listings of a window (not the invalid lines), with their line numbers."""
    for item in window:
        if isinstance(item, Listing):
            yield None, item
        elif isinstance(item[1], Listing):
            yield item[0], item[1]


def _invalid_entry(error: InvalidListingError, line: int | None) -> InvalidEntry:
    return InvalidEntry(
        external_ref=error.external_ref or f"line {line}",
        issues=error.issues,
        message=str(error),
        line=line,
    )


def _failed(
    ref: str, portal: str, account: str | None, exc: Exception, *, line: int | None, call: str
) -> FailedEntry:
    log.error("adapter_failed", call=call, portal=portal, listing=ref, exc_info=exc)
    return FailedEntry(ref, portal, account, type(exc).__name__, redact_text(str(exc)), line)


def _absent(external_ref: str) -> Projection:
    """The projection of a listing that should not be on the portal."""
    return new_projection(external_ref, {}, target=TargetState.ABSENT)


def _present(state: ListingState) -> bool:
    sent = state.sent
    return sent is not None and sent.target is not TargetState.ABSENT


@dataclass
class Plan:
    """A plan held in memory (the embedding API's form; the CLI streams entries instead)."""

    entries: list[PlanEntry] = field(default_factory=list)

    def __iter__(self) -> Iterator[PlanEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def counts(self) -> dict[str, int]:
        return dict(Counter(e.action.value for e in self.entries))

    @property
    def has_changes(self) -> bool:
        return any(e.needs_apply for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries], "summary": self.counts()}
