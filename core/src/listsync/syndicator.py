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
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from listsync.adapter import CredentialStore
from listsync.config import Config, load_config
from listsync.errors import FieldIssue, InvalidListingError
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
    Plan,
    PlanEntry,
    Planner,
    RunReport,
    SourceItem,
    StateStore,
    load_portal_setups,
    open_state_store,
)
from listsync.sync._lease import writer_lease

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
        self.pool = AdapterPool(
            {n: s for n, s in setups.items() if s.writable},
            accounts,
            provider=account_provider,
            transports=transports,
            credential_store=credential_store,
        )
        state = config.state_url if state is None else state
        self.store: StateStore = (
            open_state_store(state, create=not read_only) if isinstance(state, str) else state
        )
        self.lease_wait = lease_wait
        self._owns_store = isinstance(state, str)
        self.concurrency = concurrency
        self._engines: set[Engine] = set()

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
    ) -> RunReport:
        """Plan and apply in one streaming pipeline (what `listsync apply` does)."""
        planner = Planner(self.pool, self.store, portals=portals)
        return await self._run(
            planner.stream(_sources(items)), planner, on_result, keep_results, dry_run=dry_run
        )

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
        """Ask running applies to stop taking new listings (in-flight ones are recorded)."""
        for engine in self._engines:
            engine.stop()

    async def _run(
        self,
        entries: Iterable[PlanEntry],
        planner: Planner,
        on_result: Callable[[EntryResult], None] | None,
        keep_results: bool,
        *,
        dry_run: bool = False,
    ) -> RunReport:
        run_id = new_run_id()
        report = RunReport(run_id, keep_results=keep_results)
        engine = Engine(
            self.pool,
            self.store,
            planner,
            run_id=run_id,
            concurrency=self.concurrency,
            dry_run=dry_run,
        )
        self._engines.add(engine)

        def emit(result: EntryResult) -> None:
            report.add(result)
            if on_result is not None:
                on_result(result)

        try:
            wait = self.lease_wait
            lease = nullcontext() if dry_run else writer_lease(self.store, run_id, wait=wait)
            async with lease:  # one writer per state store
                await engine.run(entries, emit)
        finally:
            self._engines.discard(engine)
            report.interrupted = engine.stopping
        return report


def _sources(items: Iterable[ListingInput | SourceItem]) -> Iterator[SourceItem]:
    """What the planner reads: a listing's dict is validated first (the n-th item counts as
    line n when the listing is invalid); listings and `(line, ...)` pairs pass unchanged."""
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
