"""The embedding API: `Syndicator` (async) and `SyncSyndicator` (a thin blocking facade).

```python
from listsync import Syndicator

async with Syndicator.from_config("listsync.toml") as syndicator:
    issues = syndicator.validate(listing)            # offline, no I/O
    plan = await syndicator.plan([listing])          # what would be sent
    report = await syndicator.apply(plan)            # send it, recorded in the state store
    results = await syndicator.sync(listing)         # plan + apply one listing now
    states = await syndicator.status(listing.external_ref)
```

See docs/embedding.md for a runnable example, account providers and the sync facade.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from listsync._shared import activate as activate_shared
from listsync.adapter import CredentialStore, ListsRecords
from listsync.config import Config, load_config
from listsync.errors import FieldIssue, InvalidListingError
from listsync.io import ListingReader
from listsync.model import Listing, parse_listing
from listsync.registry import Registry
from listsync.sync import (
    AccountProvider,
    AdapterPool,
    AuditEntry,
    Engine,
    EntryResult,
    FailedEntry,
    ListingState,
    Orphan,
    Outcome,
    Plan,
    PlanEntry,
    Planner,
    RunReport,
    SourceItem,
    StateKey,
    StateStore,
    load_portal_setups,
    open_state_store,
)
from listsync.sync._lease import writer_lease
from listsync.sync._reconcile import from_remote

__all__ = ["SyncSyndicator", "Syndicator", "new_run_id"]

T = TypeVar("T")

ListingInput = Listing | Mapping[str, Any]
"""A listing, or its canonical dict (validated on the way in)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class Syndicator:
    """Validate, plan, apply and inspect listings on the configured portals.

    Args:
        portals: `{portal name: settings table}`, shaped like `[portals.<name>]` in the TOML
            file (portal settings, the default account's credentials, `accounts`).
        state: a `StateStore`, or a URL (`sqlite:///path`); default: the config's state URL.
        transports: per portal, an httpx transport (tests and in-process sandboxes).
        account_provider: asked first for accounts and routing (secrets from the CRM's own
            store; agencies added at run time need no restart).
        credential_store: `await store(portal, account, secrets)` when an adapter renews a
            credential (e.g. a rotated key).
        adapters: adapter classes by portal name (default: the installed entry points).
        concurrency: listings in flight at once across all portals.
        grace: after `stop()`, seconds the requests already sent may take to finish.
        lease_wait: seconds an apply waits for another run holding the state store's writer
            lease before it fails with `StateLockedError` (one writer per state store).
        read_only: open a state URL without ever creating the file or its folder (`plan`,
            `validate`, `status`): a missing store reads as empty and refuses writes.
    """

    def __init__(
        self,
        portals: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        state: StateStore | str | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        account_provider: AccountProvider | None = None,
        credential_store: CredentialStore | None = None,
        adapters: Mapping[str, type[Any]] | None = None,
        concurrency: int = 32,
        config: Config | None = None,
        lease_wait: float = 0.0,
        read_only: bool = False,
        grace: float = 10.0,
    ) -> None:
        if config is None:
            config = Config(portals={k: dict(v) for k, v in (portals or {}).items()})
        setups, accounts = load_portal_setups(
            config,
            registry=None if adapters is not None else Registry(),
            classes=adapters,
            with_provider=account_provider is not None,
        )
        self.setups = setups
        if config.shared_redis_url is not None:  # limits and credentials shared by workers
            shared = activate_shared(config.shared_redis_url)
            credential_store = credential_store or shared.credentials
        self.pool = AdapterPool(
            {n: s for n, s in setups.items() if s.writable},
            accounts,
            provider=account_provider,
            transports=transports,
            credential_store=credential_store,
        )
        state = config.state_url if state is None else state
        self.store: StateStore = (
            open_state_store(state, create=not read_only, auto_migrate=config.state_auto_migrate)
            if isinstance(state, str)
            else state
        )
        self.lease_wait = lease_wait
        self.grace = grace
        self._owns_store = isinstance(state, str)
        self.concurrency = concurrency
        self._engines: set[Engine] = set()
        self._stopping = False

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> Self:
        """Build from a TOML file (default `./listsync.toml`) and `LISTSYNC_*` variables."""
        config = load_config(Path(path) if path is not None else None)
        return cls(config=config, **kwargs)

    @property
    def portals(self) -> list[str]:
        """The configured write portals."""
        return sorted(self.pool.setups)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every adapter's HTTP client (and the state store when it was opened here)."""
        await self.pool.aclose()
        if self._owns_store:
            self.store.close()

    def validate(
        self, listing: Listing | Mapping[str, Any], portals: Iterable[str] | None = None
    ) -> list[FieldIssue]:
        """Every problem that would stop the listing, offline: model validation, account
        routing and each portal's preflight. Issues carry canonical paths and their portal."""
        if not isinstance(listing, Listing):
            try:
                listing = parse_listing(dict(listing))
            except InvalidListingError as exc:
                return list(exc.issues)
        wanted = listing.portals if portals is None else tuple(portals)
        probe = listing.model_copy(update={"portals": wanted})
        planner = Planner(self.pool, self.store)
        issues: list[FieldIssue] = []
        for index, portal in enumerate(wanted):
            entry = planner.plan_portal(probe, portal, index, {})
            issues += entry.issues
            if isinstance(entry, FailedEntry):
                message = f"the {portal} adapter failed: {entry.describe()}"
                issues.append(FieldIssue(path="", message=message, portal=portal))
        return issues

    async def plan(
        self, listings: Iterable[ListingInput | SourceItem], *, portals: Iterable[str] | None = None
    ) -> Plan:
        """What `apply` would do for these listings (nothing is sent)."""
        planner = Planner(self.pool, self.store, portals=portals)
        return Plan(list(planner.stream(_sources(listings))))

    def plan_stream(
        self, items: Iterable[ListingInput | SourceItem], *, portals: Iterable[str] | None = None
    ) -> Iterator[PlanEntry]:
        """Plan entries one by one as `items` are read (for large inputs)."""
        return Planner(self.pool, self.store, portals=portals).stream(_sources(items))

    async def apply(
        self,
        plan: Plan | Iterable[PlanEntry],
        *,
        on_result: Callable[[EntryResult], None] | None = None,
        keep_results: bool = True,
    ) -> RunReport:
        """Execute a plan; every outcome is recorded in the state store as it happens."""
        return await self._run(plan, Planner(self.pool, self.store), on_result, keep_results)

    async def run(
        self,
        items: Iterable[ListingInput | SourceItem],
        *,
        portals: Iterable[str] | None = None,
        on_result: Callable[[EntryResult], None] | None = None,
        keep_results: bool = True,
        dry_run: bool = False,
        refresh: bool = False,
        prune: bool = False,
        adopt: bool = True,
    ) -> RunReport:
        """Plan and apply in one streaming pipeline (what `listsync apply` does).

        Args:
            refresh: read every listing the state knows back from its portal first and apply
                against what is really there (drift repaired, a vanished record re-created).
            prune: afterwards, take off the portals the records of the accounts used whose
                external_ref the input does not name (Hemnet: unpublish; Immowelt: delete).
            adopt: look a listing without state up on its portal before creating it, and
                adopt a record found there instead of creating a duplicate.
        """
        planner = Planner(self.pool, self.store, portals=portals)
        options = _RunOptions(dry_run=dry_run, refresh=refresh, adopt=adopt, prune=prune)
        return await self._run(
            planner.stream(_sources(items)), planner, on_result, keep_results, options
        )

    async def refresh(
        self,
        items: Iterable[ListingInput | SourceItem],
        *,
        portals: Iterable[str] | None = None,
        on_result: Callable[[EntryResult], None] | None = None,
        keep_results: bool = True,
        prune: bool = False,
    ) -> RunReport:
        """Update the state store from the portals for these listings (nothing is sent to
        them), like `terraform refresh`. Outcomes: `unchanged` (in sync), `drifted` (the
        state now holds the portal's copy; an apply repairs it), `gone` (an apply re-creates
        it). `report.orphans` lists the records of the accounts used that the input does not
        name; `prune=True` withdraws them."""
        planner = Planner(self.pool, self.store, portals=portals)
        options = _RunOptions(refresh_only=True, prune=prune, orphans=True)
        return await self._run(
            planner.stream(_sources(items)), planner, on_result, keep_results, options
        )

    async def forget(
        self, external_ref: str, *, portal: str | None = None, account: str | None = None
    ) -> list[StateKey]:
        """Make the state store forget what it knows of a listing on these portal accounts
        (the audit trail keeps a record of it): the next apply looks it up on the portal and
        adopts it, or creates it. Returns the keys forgotten."""
        done = []
        for state in self.store.records(external_ref):
            if (portal is not None and state.portal != portal) or (
                account is not None and state.account != account
            ):
                continue
            intents = self.store.intents(state.key)
            if state.remote_id is None and state.sent_json is None and not intents:
                continue  # nothing known of it: nothing to forget
            for intent in intents:
                if intent.id is not None:
                    self.store.clear_intent(intent.id)
            blank = ListingState(*state.key, created_at=state.created_at)
            audit = AuditEntry(state.key, "forget", "forgotten", message="by an operator")
            self.store.save(blank, audit=audit)
            done.append(state.key)
        return done

    async def sync(self, listing: ListingInput) -> list[EntryResult]:
        """Push this one listing (a `Listing` or its dict) now; its result on each portal."""
        report = await self.run([listing])
        return report.results

    async def status(self, external_ref: str) -> list[ListingState]:
        """What the state store knows about one listing, per portal account."""
        return list(self.store.records(external_ref))

    async def audit(self, external_ref: str, *, portal: str | None = None) -> list[AuditEntry]:
        """The audit trail of one listing (every operation, newest last)."""
        return self.store.audit(external_ref, portal=portal)

    def stop(self) -> None:
        """Stop the run in progress promptly (every listing is recorded; requests already sent
        get `grace` seconds). A run that is still starting stops as soon as it starts."""
        self._stopping = True
        for engine in list(self._engines):
            engine.stop()

    async def _run(
        self,
        entries: Iterable[PlanEntry],
        planner: Planner,
        on_result: Callable[[EntryResult], None] | None,
        keep_results: bool,
        options: _RunOptions | None = None,
    ) -> RunReport:
        options = options or _RunOptions()
        run_id = new_run_id()
        report = RunReport(run_id, keep_results=keep_results)
        engine = self._engine(planner, run_id, options)
        self._engines.add(engine)
        if self._stopping:
            engine.stop()
        seen: dict[tuple[str, str], set[str]] = defaultdict(set)

        def emit(result: EntryResult) -> None:
            report.add(result)
            if on_result is not None:
                on_result(result)

        def noted(stream: Iterable[PlanEntry]) -> Iterator[PlanEntry]:
            for entry in stream:
                if entry.portal is not None and entry.account is not None:
                    seen[(entry.portal, entry.account)].add(entry.external_ref)
                yield entry

        if options.orphans or options.prune:
            entries = noted(entries)
        try:
            wait = self.lease_wait
            dry = options.dry_run
            lease = nullcontext() if dry else writer_lease(self.store, run_id, wait=wait)
            async with lease:  # one writer per state store
                await engine.run(entries, emit)
                if (options.orphans or options.prune) and not engine.stopping:
                    report.orphans = await self._orphans(seen)
                if options.prune and report.orphans and not engine.stopping:
                    report.orphans = await self._prune(report.orphans, planner, run_id, emit)
        finally:
            self._engines.discard(engine)
            report.interrupted = engine.stopping
            self._stopping = False
        return report

    def _engine(self, planner: Planner, run_id: str, options: _RunOptions) -> Engine:
        return Engine(
            self.pool,
            self.store,
            planner,
            run_id=run_id,
            concurrency=self.concurrency,
            dry_run=options.dry_run,
            refresh=options.refresh,
            refresh_only=options.refresh_only,
            adopt=options.adopt,
            grace=self.grace,
        )

    async def _orphans(self, seen: Mapping[tuple[str, str], set[str]]) -> list[Orphan]:
        """Records of the accounts in `seen` whose external_ref the input did not name."""
        found: list[Orphan] = []
        for (portal, account), refs in sorted(seen.items()):
            adapter = self.pool.adapter(portal, account)
            if not isinstance(adapter, ListsRecords):
                continue
            async for external_ref, remote_id in adapter.records():
                if self._stopping:
                    return found
                if external_ref not in refs:
                    found.append(Orphan(portal, account, external_ref, remote_id))
        return found

    async def _prune(
        self,
        orphans: list[Orphan],
        planner: Planner,
        run_id: str,
        emit: Callable[[EntryResult], None],
    ) -> list[Orphan]:
        """Take the orphans off their portals; the orphans, marked when withdrawn."""
        entries: list[PlanEntry] = []
        for orphan in orphans:
            if orphan.external_ref is None:
                continue  # not ours to name in the state store: reported only
            adapter = self.pool.adapter(orphan.portal, orphan.account)
            remote = await adapter.fetch(orphan.external_ref, orphan.remote_id)
            if remote is None or remote.projection is None:
                continue
            key = StateKey(orphan.portal, orphan.account, orphan.external_ref)
            state = from_remote(
                self.store.get(key) or ListingState(*key), remote, remote.projection
            )
            self.store.save(state)
            entries.append(planner.removal(state))
        withdrawn: set[tuple[str, str, str]] = set()

        def noted(result: EntryResult) -> None:
            if result.outcome is Outcome.CONVERGED:
                e = result.entry
                withdrawn.add((e.portal or "", e.account or "", e.external_ref))
            emit(result)

        engine = self._engine(planner, run_id, _RunOptions())
        self._engines.add(engine)
        try:
            await engine.run(entries, noted)
        finally:
            self._engines.discard(engine)
        return [
            dataclasses.replace(o, withdrawn=True)
            if (o.portal, o.account, o.external_ref or "") in withdrawn
            else o
            for o in orphans
        ]


@dataclass(frozen=True, slots=True)
class _RunOptions:
    dry_run: bool = False
    refresh: bool = False
    refresh_only: bool = False
    adopt: bool = True
    prune: bool = False
    orphans: bool = False


def _sources(items: Iterable[ListingInput | SourceItem]) -> Iterator[SourceItem]:
    """What the planner reads: a listing's dict is validated first (the n-th item counts as
    line n when the listing is invalid); listings and `(line, ...)` pairs pass unchanged, and
    `read_listings`' reader is given to the planner itself (it looks records up ahead)."""
    if isinstance(items, ListingReader):
        return items
    return _validated(items)


def _validated(items: Iterable[ListingInput | SourceItem]) -> Iterator[SourceItem]:
    for number, item in enumerate(items, start=1):
        if isinstance(item, Listing | tuple):
            yield item
            continue
        try:
            yield parse_listing(dict(item))
        except InvalidListingError as exc:
            yield number, exc


class SyncSyndicator:
    """A blocking facade over `Syndicator` for synchronous applications (Django and friends).

    It owns an event loop in a background thread; every method submits the async call to it
    and waits, so adapters and their HTTP clients always live on one loop. Use it as a context
    manager or call `close()`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="listsync-syndicator", daemon=True
        )
        self._thread.start()
        self.syndicator: Syndicator = Syndicator(*args, **kwargs)

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> Self:
        config = load_config(Path(path) if path is not None else None)
        return cls(config=config, **kwargs)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def validate(
        self, listing: Listing | Mapping[str, Any], portals: Iterable[str] | None = None
    ) -> list[FieldIssue]:
        return self.syndicator.validate(listing, portals)

    def plan(
        self, listings: Iterable[ListingInput | SourceItem], *, portals: Iterable[str] | None = None
    ) -> Plan:
        return self._call(self.syndicator.plan(listings, portals=portals))

    def apply(self, plan: Plan | Iterable[PlanEntry]) -> RunReport:
        return self._call(self.syndicator.apply(plan))

    def sync(self, listing: ListingInput) -> list[EntryResult]:
        return self._call(self.syndicator.sync(listing))

    def status(self, external_ref: str) -> list[ListingState]:
        return self._call(self.syndicator.status(external_ref))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self.syndicator.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
