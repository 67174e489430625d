"""Plan: compare desired listings with the state store and list the operations per portal.

For each listing and each portal it names: route to the portal account of its agency, run the
adapter's offline `preflight` (errors block the listing), `project` it, and compare the
projection's digest with the one last sent: equal means nothing to do, otherwise the adapter
plans the operations from the diff. A portal the store says the listing was on, but which the
listing no longer names, gets a removal (a projection whose target is ABSENT).

Planning streams: `Planner.stream()` yields entries as it reads listings, so a plan of a
100,000-line file never holds the listings in memory. `Plan` is the in-memory form the
embedding API returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

from listsync.adapter import Operation, OpKind, Projection, TargetState, WriteAdapter
from listsync.errors import ConfigurationError, FieldIssue, InvalidListingError, Severity
from listsync.model import Listing
from listsync.sync._accounts import AdapterPool
from listsync.sync._diff import diff_projection
from listsync.sync._store import ListingState, StateStore

__all__ = ["Action", "Plan", "PlanEntry", "Planner", "SourceItem"]

SourceItem = Listing | tuple[int, Listing | InvalidListingError]
"""What the planner reads: listings, or `(line number, listing or error)` from a JSONL file."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOTHING = "nothing"
    BLOCKED = "blocked"
    INVALID = "invalid"


SYMBOLS = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DELETE: ("-", "red"),
    Action.NOTHING: ("=", "dim"),
    Action.BLOCKED: ("!", "magenta"),
    Action.INVALID: ("x", "red"),
}


@dataclass(frozen=True)
class PlanEntry:
    """What to do for one listing on one portal account.

    Attributes:
        portal / account: None for an invalid input line (it never reached a portal).
        operations: in the order they must run.
        issues: preflight issues (blocking errors for BLOCKED, warnings otherwise), or the
            validation issues of an invalid line, with canonical paths.
        desired: the projection to converge to; `base_hash` the sent digest it was planned from.
        listing: the canonical listing (not serialised).
        line: the input line, when read from a file.
    """

    external_ref: str
    portal: str | None
    account: str | None
    action: Action
    operations: tuple[Operation, ...] = ()
    issues: tuple[FieldIssue, ...] = ()
    desired: Projection | None = field(default=None, repr=False)
    base_hash: str | None = None
    listing: Listing | None = field(default=None, repr=False)
    line: int | None = None
    message: str | None = None

    @property
    def needs_apply(self) -> bool:
        """True when apply has something to send or to record."""
        if self.action in (Action.BLOCKED, Action.INVALID) or self.desired is None:
            return False
        return bool(self.operations) or self.base_hash != self.desired.digest()

    def describe(self) -> str:
        if self.action in (Action.BLOCKED, Action.INVALID):
            text = "; ".join(str(i) for i in self.issues if i.severity is Severity.ERROR)
            return text or (self.message or "")
        counts = Counter(
            op.describe() if op.kind is OpKind.UPDATE else op.kind.value for op in self.operations
        )
        return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "external_ref": self.external_ref,
            "portal": self.portal,
            "account": self.account,
            "action": self.action.value,
            "operations": [
                {"kind": op.kind.value, "key": op.key, "fields": sorted(op.changes) or None}
                for op in self.operations
            ],
            "issues": [i.model_dump(mode="json", exclude_none=True) for i in self.issues],
        }
        if self.line is not None:
            out["line"] = self.line
        if self.message:
            out["message"] = self.message
        return out


def _classify(ops: Iterable[Operation]) -> Action:
    kinds = {op.kind for op in ops}
    if OpKind.CREATE in kinds:
        return Action.CREATE
    if OpKind.DELETE in kinds:
        return Action.DELETE
    return Action.UPDATE if kinds else Action.NOTHING


class Planner:
    """Plans listings against the state store through the adapters of an `AdapterPool`.

    Args:
        portals: restrict planning to these portals (None: every portal a listing names).
    """

    def __init__(
        self, pool: AdapterPool, store: StateStore, *, portals: Iterable[str] | None = None
    ) -> None:
        self.pool = pool
        self.store = store
        self.portals = frozenset(portals) if portals is not None else None

    def _selected(self, portal: str) -> bool:
        return self.portals is None or portal in self.portals

    def stream(self, items: Iterable[SourceItem]) -> Iterator[PlanEntry]:
        """Plan entries as the listings are read (no listing is kept after its entries)."""
        for item in items:
            if isinstance(item, Listing):
                yield from self.plan_listing(item)
                continue
            line, parsed = item
            if isinstance(parsed, InvalidListingError):
                yield PlanEntry(
                    external_ref=parsed.external_ref or f"line {line}",
                    portal=None,
                    account=None,
                    action=Action.INVALID,
                    issues=parsed.issues,
                    line=line,
                    message=str(parsed),
                )
            else:
                yield from self.plan_listing(parsed, line=line)

    def plan_listing(self, listing: Listing, *, line: int | None = None) -> list[PlanEntry]:
        """The entries of one listing: one per portal it names, plus removals.

        Args:
            line: the input line the listing was read from, recorded in its entries.
        """
        states = {(s.portal, s.account): s for s in self.store.records(listing.external_ref)}
        entries = [
            self.plan_portal(listing, portal, index, states, line=line)
            for index, portal in enumerate(listing.portals)
            if self._selected(portal)
        ]
        for state in states.values():
            if state.portal in listing.portals or not self._selected(state.portal):
                continue
            if state.portal in self.pool and _present(state):
                entries.append(self._plan_removal(listing, state, line))
        return entries

    def _blocked(
        self,
        listing: Listing,
        portal: str,
        account: str | None,
        issues: Iterable[FieldIssue],
        line: int | None,
    ) -> PlanEntry:
        return PlanEntry(
            external_ref=listing.external_ref,
            portal=portal,
            account=account,
            action=Action.BLOCKED,
            issues=tuple(issues),
            listing=listing,
            line=line,
        )

    def plan_portal(
        self,
        listing: Listing,
        portal: str,
        index: int,
        states: dict[tuple[str, str], ListingState],
        *,
        line: int | None = None,
    ) -> PlanEntry:
        if portal not in self.pool:
            issue = FieldIssue(
                path=f"portals[{index}]",
                message=f"portal {portal!r} is not configured",
                portal=portal,
            )
            return self._blocked(listing, portal, None, [issue], line)
        agency = listing.agency.external_ref
        account = self.pool.route(portal, agency)
        if account is None:
            issue = FieldIssue(
                path="agency.external_ref",
                message=f"agency {agency!r} has no account on {portal}",
                portal=portal,
            )
            return self._blocked(listing, portal, None, [issue], line)
        try:
            adapter = self.pool.adapter(portal, account)
        except ConfigurationError as exc:
            issue = FieldIssue(path="agency.external_ref", message=str(exc), portal=portal)
            return self._blocked(listing, portal, account, [issue], line)
        issues = tuple(adapter.preflight(listing))
        if any(i.severity is Severity.ERROR for i in issues):
            return self._blocked(listing, portal, account, issues, line)
        try:
            desired = adapter.project(listing)
        except InvalidListingError as exc:
            return self._blocked(listing, portal, account, exc.issues, line)
        state = states.get((portal, account))
        return self._entry(
            listing,
            portal=portal,
            account=account,
            desired=desired,
            state=state,
            issues=issues,
            adapter=adapter,
            line=line,
        )

    def _entry(
        self,
        listing: Listing,
        *,
        portal: str,
        account: str,
        desired: Projection,
        state: ListingState | None,
        issues: tuple[FieldIssue, ...] = (),
        adapter: WriteAdapter | None = None,
        line: int | None = None,
    ) -> PlanEntry:
        """The entry of one portal account; `adapter` is its adapter if the caller has it."""
        base_hash = state.sent_hash if state is not None else None
        if base_hash is not None and base_hash == desired.digest():
            ops: list[Operation] = []
        else:
            if adapter is None:
                adapter = self.pool.adapter(portal, account)
            ops = adapter.plan(diff_projection(state.sent if state else None, desired))
        return PlanEntry(
            external_ref=listing.external_ref,
            portal=portal,
            account=account,
            action=_classify(ops),
            operations=tuple(ops),
            issues=issues,
            desired=desired,
            base_hash=base_hash,
            listing=listing,
            line=line,
        )

    def _plan_removal(self, listing: Listing, state: ListingState, line: int | None) -> PlanEntry:
        desired = Projection(
            external_ref=listing.external_ref, fields={}, target=TargetState.ABSENT
        )
        return self._entry(
            listing,
            portal=state.portal,
            account=state.account,
            desired=desired,
            state=state,
            line=line,
        )

    def replan(self, entry: PlanEntry, state: ListingState | None) -> PlanEntry:
        """The same entry planned again from `state` (after recovery, or a stale plan)."""
        if entry.desired is None or entry.listing is None or entry.portal is None:
            return entry
        assert entry.account is not None  # noqa: S101  (planned entries always have one)
        return self._entry(
            entry.listing,
            portal=entry.portal,
            account=entry.account,
            desired=entry.desired,
            state=state,
            issues=entry.issues,
        )


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

    def table(self) -> Table:
        """A Terraform-like table of the plan."""
        table = Table(title="listsync plan", show_lines=False)
        for column in ("", "listing", "portal", "account", "action", "operations / issues"):
            table.add_column(column)
        for e in self.entries:
            symbol, style = SYMBOLS[e.action]
            table.add_row(
                f"[{style}]{symbol}[/]",
                e.external_ref,
                e.portal or "",
                e.account or "",
                f"[{style}]{e.action.value}[/]",
                e.describe(),
            )
        return table

    def print(self, console: Console | None = None) -> None:
        console = console or Console()
        console.print(self.table())
        counts = self.counts()
        console.print(", ".join(f"{n} {action}" for action, n in sorted(counts.items())))
