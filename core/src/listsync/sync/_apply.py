"""Apply: execute plan entries against the portals, exactly once, recording as it goes.

Concurrency: entries are dispatched into one lane per (portal, account). A lane runs at most
the portal's `max_concurrency` listings at a time and every lane shares a global limit, so a
busy or failing account never holds another account's slots; the adapter's `PortalHttp` adds
the per-account request rate limit. Entries are read from a (streaming) iterator into a bounded
buffer, never one task per listing.

Per entry (one listing on one portal account) the operations run in order:

1. Journal intents left by a killed run are resolved first with `adapter.recover`: a found
   record is adopted (remote id, item id, sent projection), otherwise the intent is dropped;
   the entry is then planned again from the recovered state.
2. A non-idempotent operation (create, media add, showing create) is journalled before it is
   sent. Requests are retried by the HTTP layer under the one retry policy
   (`listsync.retry.RetryPolicy`); the engine itself resends only a non-idempotent operation
   whose outcome is unknown (`UnknownOutcomeError`), after the adapter's `recover` found that
   it did not land, with the waits and the attempt limit of the same policy.
3. After each operation the new sent projection (as a step, see `_sent.py`), item ids and
   remote id are saved together with an audit entry, the intent's removal and the next
   operation's intent, atomically; a run killed at any moment re-plans only what is left. The
   next intent is journalled only when that operation will be sent (not when the run is
   stopping). These records wait for the end of the event loop's turn and are committed with
   the other listings' (`_commit.py`); a listing goes on once its own is committed.

What an adapter raises for one listing stays with that listing (`listsync.adapter` has the
table): `InvalidListingError` blocks it, any other exception fails it with its class and
message. An `AuthenticationError` also fails the rest of that account's entries in this run
(the message names the account) and leaves other accounts untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeGuard

import structlog

from listsync._guard import guard_for
from listsync.adapter import (
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    Projection,
    WriteAdapter,
    apply_result_to_sent,
)
from listsync.errors import (
    AuthenticationError,
    InvalidListingError,
    ListsyncError,
    NotFoundError,
    RetryableError,
    StateStoreError,
    UnknownOutcomeError,
)
from listsync.log import debug_enabled, get_logger
from listsync.redact import redact_text
from listsync.retry import RetryEvent, RetryPolicy, RunStopped, pause, report, stop_signal
from listsync.sync._accounts import AdapterPool
from listsync.sync._claim import claim
from listsync.sync._commit import GroupCommit
from listsync.sync._entry import (
    EntryResult,
    absorbed,
    advanced,
    context,
    converged,
    intent_projection,
    item_for,
    result,
)
from listsync.sync._outcomes import Recorder
from listsync.sync._plan import (
    BlockedEntry,
    FailedEntry,
    InvalidEntry,
    PlanEntry,
    PlannedEntry,
    Planner,
)
from listsync.sync._reconcile import Reconciler, can_read_back
from listsync.sync._store import (
    AuditEntry,
    Intent,
    ListingState,
    Outcome,
    StateKey,
    StateStore,
    utcnow,
)

__all__ = ["Engine", "EntryResult"]

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)


@dataclass
class _Lane:
    limit: int
    queue: deque[PlannedEntry] = field(default_factory=deque)
    runners: int = 0
    held: bool = False
    """The lane's listings wait for its account's breaker probe in this outage (until
    `hold_until`), once: after that they fail at once until the breaker closes."""
    hold_until: float = 0.0


def _creates(entry: PlannedEntry, state: ListingState) -> bool:
    """True when the entry creates a listing the state knows nothing of (an adapter's plan may
    put other steps first: Immowelt uploads media before the create that attaches them)."""
    return state.remote_id is None and any(op.kind is OpKind.CREATE for op in entry.operations)


def _first_leaf(group: BaseExceptionGroup[StateStoreError]) -> StateStoreError:
    first = group.exceptions[0]
    return first if isinstance(first, StateStoreError) else _first_leaf(first)


class _Interrupted(Exception):  # noqa: N818  (control flow, never escapes the engine)
    """The run is stopping; raised between two operations of one entry."""


class Engine:
    """Applies plan entries with bounded concurrency and records every outcome.

    Args:
        concurrency: listings in flight across all portals and accounts.
        dry_run: report what would be done; send and record nothing.
        refresh: read every listing that has state back from its portal first, and apply
            against what is really there (`_reconcile.py`).
        refresh_only: only that: update the state from the portals, send nothing.
        adopt: look a listing without state up on its portal before creating it, and adopt
            the record found (adapters that declare READ).
        grace: seconds requests already sent may take to finish after `stop()`; then they are
            cancelled (their journal lets the next run recover them).
    """

    def __init__(
        self,
        pool: AdapterPool,
        store: StateStore,
        planner: Planner,
        *,
        run_id: str,
        concurrency: int = 32,
        dry_run: bool = False,
        refresh: bool = False,
        refresh_only: bool = False,
        adopt: bool = True,
        grace: float = 10.0,
    ) -> None:
        self.pool = pool
        self.store = store
        self.planner = planner
        self.run_id = run_id
        self.concurrency = max(1, concurrency)
        self.dry_run = dry_run
        self.refresh = refresh or refresh_only
        self.refresh_only = refresh_only
        self.adopt = adopt
        self.grace = grace
        self.stopping = False
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: set[asyncio.Task[None]] = set()
        self._commits = GroupCommit(store)
        self._recorder = Recorder(store, run_id)
        self._reconciler = Reconciler(store, run_id)
        self._global = asyncio.Semaphore(self.concurrency)
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._auth_failed: dict[tuple[str, str], str] = {}

    def stop(self) -> None:
        """Stop promptly: no new operation starts; retry waits and requests not sent yet end at
        once; requests already sent get `grace` seconds, then they are cancelled. Every
        listing is recorded (interrupted listings keep their journal for the next run).
        Safe to call from another thread."""
        self.stopping = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._stopping_now)

    def _stopping_now(self) -> None:
        if self._stop is not None and not self._stop.is_set():
            self._stop.set()
            assert self._loop is not None  # noqa: S101  (set by run() with the event)
            self._loop.call_later(self.grace, self._cancel_runners)

    def _cancel_runners(self) -> None:
        for task in list(self._runners):
            task.cancel()

    async def run(
        self,
        entries: Iterable[PlanEntry],
        on_result: Callable[[EntryResult], None] | None = None,
    ) -> None:
        """Apply every entry; `on_result` is called once per entry as it finishes."""
        emit = on_result or (lambda _result: None)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.stopping:
            self._stopping_now()
        try:
            with stop_signal(self._stop):
                await self._dispatch(entries, emit)
        except BaseExceptionGroup as group:
            # The state store failed (damaged, full, deleted): nothing more can be recorded, so
            # the run stops, with that one error rather than a group of tracebacks.
            broken = group.subgroup(StateStoreError)
            if broken is not None:
                raise _first_leaf(broken) from None
            raise

    async def _dispatch(
        self, entries: Iterable[PlanEntry], emit: Callable[[EntryResult], None]
    ) -> None:
        buffer = asyncio.Semaphore(self.concurrency * 4)
        async with asyncio.TaskGroup() as tg:
            for count, entry in enumerate(entries):
                if self.stopping:
                    break
                if count % 64 == 63:
                    await asyncio.sleep(0)  # let in-flight work progress while planning
                if not self._to_apply(entry):
                    emit(self._settle(entry))
                    continue
                key = (entry.portal, entry.account)
                lane = self._lanes.get(key)
                if lane is None:
                    limit = self.pool.settings(entry.portal).max_concurrency
                    lane = self._lanes[key] = _Lane(limit=min(limit, self.concurrency))
                await buffer.acquire()
                lane.queue.append(entry)
                if lane.runners < lane.limit:
                    lane.runners += 1
                    task = tg.create_task(self._runner(lane, buffer, emit))
                    self._runners.add(task)
                    task.add_done_callback(self._runners.discard)

    def _to_apply(self, entry: PlanEntry) -> TypeGuard[PlannedEntry]:
        """True for entries that go to a portal (read back, or something to send)."""
        if not isinstance(entry, PlannedEntry) or self.dry_run:
            return False
        return entry.needs_apply or self.refresh

    async def _runner(
        self, lane: _Lane, buffer: asyncio.Semaphore, emit: Callable[[EntryResult], None]
    ) -> None:
        try:
            while lane.queue:
                entry = lane.queue.popleft()
                try:
                    if not self.stopping:
                        await self._hold_for_probe(lane, entry)
                    if self.stopping:
                        result = EntryResult(entry, Outcome.SKIPPED)
                    else:
                        async with self._global:
                            result = await self.apply_entry(entry)
                finally:
                    buffer.release()
                emit(result)
        finally:
            lane.runners -= 1

    async def _hold_for_probe(self, lane: _Lane, entry: PlannedEntry) -> None:
        """While the account's breaker is open, the lane's listings wait for its probe once
        per outage, so a short blip does not fail the rest of the batch; when the probe fails
        too, they fail at once (a long outage ends the run in about one cooldown)."""
        settings = self.pool.settings(entry.portal)
        guard = guard_for(
            entry.portal,
            entry.account,
            threshold=settings.breaker_threshold,
            cooldown=settings.breaker_cooldown,
        )
        due = guard.probe_due_in()
        if due is None:
            lane.held, lane.hold_until = False, 0.0
            return
        if not lane.held:  # the first of the lane's runners to see this outage sets the wait
            lane.held, lane.hold_until = True, time.monotonic() + due
        remaining = lane.hold_until - time.monotonic()
        if remaining <= 0:
            return
        try:
            await pause(remaining)
        except RunStopped:
            return  # the run is stopping: the caller sees `self.stopping`

    def _settle(self, entry: PlanEntry) -> EntryResult:
        """The result of an entry that needs no portal request (and its record)."""
        if isinstance(entry, InvalidEntry):
            return EntryResult(entry, Outcome.INVALID, issues=entry.issues)
        if isinstance(entry, BlockedEntry):
            if not self.dry_run:
                self._recorder.unsent(entry, Outcome.BLOCKED, "PreflightError", entry.describe())
            return EntryResult(entry, Outcome.BLOCKED, issues=entry.issues)
        if isinstance(entry, FailedEntry):
            if not self.dry_run:
                self._recorder.unsent(entry, Outcome.FAILED, entry.error_class, entry.message)
            error = (entry.error_class, entry.message)
            return EntryResult(entry, Outcome.FAILED, error_class=error[0], error_message=error[1])
        if self.dry_run and entry.needs_apply:
            return EntryResult(entry, Outcome.PLANNED, issues=entry.issues)
        return EntryResult(entry, Outcome.UNCHANGED, issues=entry.issues)

    async def apply_entry(self, entry: PlannedEntry) -> EntryResult:
        """Converge one listing on one portal account; never raises for what an adapter raises.

        The listing's lease (`StateStore.claim`) is held while its operations run, so two runs
        or workers sharing a store never work on one listing at once; a listing another one
        holds is left to it (`busy`).
        """
        key = StateKey(entry.portal, entry.account, entry.external_ref)
        with claim(self.store, key) as held:
            if not held:
                return EntryResult(entry, Outcome.BUSY)
            return await self._apply_held(entry, key)

    async def _apply_held(self, entry: PlannedEntry, key: StateKey) -> EntryResult:
        state = self.store.get(key) or ListingState(*key)
        failed = self._auth_failed.get((entry.portal, entry.account))
        if failed is not None:
            return self._recorder.ended(
                entry, state, Outcome.FAILED, ("AuthenticationError", failed)
            )
        # bind/reset: what `bound_contextvars` does, without a generator context manager
        bound = structlog.contextvars.bind_contextvars(
            run=self.run_id, portal=entry.portal, account=entry.account, listing=key.external_ref
        )
        try:
            adapter = self.pool.adapter(entry.portal, entry.account)
            return await self._converge(adapter, entry, state)
        except (_Interrupted, RunStopped, asyncio.CancelledError):
            # Stopping: what landed is recorded, the journal keeps what may have (next run).
            latest = self.store.get(key) or state
            self.store.save(dataclasses.replace(latest, outcome=Outcome.INTERRUPTED))
            return EntryResult(entry, Outcome.INTERRUPTED, remote_id=latest.remote_id)
        except StateStoreError:
            raise  # nothing can be recorded any more: the run stops
        except ListsyncError as exc:
            return self._failure(entry, key, state, exc)
        except Exception as exc:  # an adapter bug fails this listing, never the run
            log.exception("adapter_failed")
            latest = self.store.get(key) or state
            error = (type(exc).__name__, redact_text(str(exc)))
            return self._recorder.ended(entry, latest, Outcome.FAILED, error)
        finally:
            structlog.contextvars.reset_contextvars(**bound)

    async def _converge(
        self, adapter: WriteAdapter, entry: PlannedEntry, state: ListingState
    ) -> EntryResult:
        intents = self.store.intents(state.key)
        if intents:
            state = await self._recover_intents(adapter, entry, state, intents)
        before = state
        if self.refresh and can_read_back(adapter):
            state, drift = await self._reconciler.read_back(
                adapter, entry, state, adopt_missing=self.refresh_only
            )
            if self.refresh_only:
                return self._reconciler.refreshed(entry, state, drift)
        elif self.adopt and _creates(entry, state) and can_read_back(adapter):
            state = await self._reconciler.adopt(adapter, entry, state)
        if intents or state is not before or state.sent_hash != entry.base_hash:
            replanned = self.planner.replan(entry, state)
            if not isinstance(replanned, PlannedEntry):
                return self._settle(replanned)
            entry = replanned
        if not entry.operations:
            # nothing left to send: a re-plan after a killed run found it all done
            changed = state is not before or entry.needs_apply or bool(intents)
            state = converged(state, entry, entry.desired, updated_at=utcnow())
            self.store.save(state)
            outcome = Outcome.CONVERGED if changed else Outcome.UNCHANGED
            return result(entry, outcome, state, issues=entry.issues)
        return await self._send_or_recreate(adapter, entry, state)

    async def _send_or_recreate(
        self, adapter: WriteAdapter, entry: PlannedEntry, state: ListingState
    ) -> EntryResult:
        """`_send_all`; a record the portal no longer has (404) is forgotten and the listing
        sent again from scratch, once."""
        try:
            return await self._send_all(adapter, entry, state, entry.desired)
        except NotFoundError:
            latest = self.store.get(state.key) or state
            if latest.remote_id is None or entry.operations[0].kind is OpKind.CREATE:
                raise
        state = self._reconciler.forget(latest, "gone", "the portal answered 404: re-creating it")
        replanned = self.planner.replan(entry, state)
        if not isinstance(replanned, PlannedEntry):
            return self._settle(replanned)
        if not replanned.operations:
            state = converged(state, replanned, replanned.desired, updated_at=utcnow())
            self.store.save(state)
            return result(replanned, Outcome.CONVERGED, state, issues=replanned.issues)
        return await self._send_all(adapter, replanned, state, replanned.desired)

    async def _send_all(
        self, adapter: WriteAdapter, entry: PlannedEntry, state: ListingState, desired: Projection
    ) -> EntryResult:
        """Send the operations in order, recording each (and journalling the next) as it lands."""
        ops, key, caps, debug = (
            entry.operations,
            state.key,
            adapter.capabilities,
            debug_enabled(_stdlib_log),
        )
        sent = state.sent
        first = None if ops[0].idempotent else self._intent(key, ops[0], desired)
        # on its own, not in a group: no wait before a listing's first request (a refused
        # account is known from its first listing's answer before its next listing starts)
        intent_id = None if first is None else self.store.add_intent(first)
        done: list[str] = []
        with self._commits.writing():
            for index, op in enumerate(ops):
                answer = await self._send(adapter, op, context(entry, state, desired), intent_id)
                following = ops[index + 1] if index + 1 < len(ops) else None
                now, last = utcnow(), following is None
                state, sent = advanced(
                    state, sent, entry, op, answer, caps=caps, now=now, last=last
                )
                described = op.describe()
                intent_id = await self._commits.save(
                    state,
                    audit=AuditEntry(key, described, "ok", self.run_id, answer.request_id, at=now),
                    clear_intent=intent_id,
                    intent=self._next_intent(key, following, desired),
                )
                done.append(described)
                if debug:
                    log.debug("operation_applied", operation=described, remote_id=state.remote_id)
                if following is not None and self.stopping:
                    raise _Interrupted
        return result(entry, Outcome.CONVERGED, state, done=tuple(done), issues=entry.issues)

    async def _send(
        self, adapter: WriteAdapter, op: Operation, ctx: OperationContext, intent_id: int | None
    ) -> OperationResult:
        """`_run_op`; when the portal refused the operation it did not land: its intent goes."""
        try:
            return await self._run_op(adapter, op, ctx)
        except ListsyncError as exc:
            if intent_id is not None and not isinstance(exc, RetryableError):
                self.store.clear_intent(intent_id)
            raise

    def _intent(self, key: StateKey, op: Operation, desired: Projection) -> Intent:
        return Intent(key, op, item=item_for(op, desired), run_id=self.run_id)

    def _next_intent(
        self, key: StateKey, op: Operation | None, desired: Projection
    ) -> Intent | None:
        """The journal entry of the next operation, recorded with the last one's outcome: a
        non-idempotent operation that will be sent (the run is not stopping)."""
        if op is None or op.idempotent or self.stopping:
            return None
        return self._intent(key, op, desired)

    async def _recover_intents(
        self,
        adapter: WriteAdapter,
        entry: PlannedEntry,
        state: ListingState,
        intents: list[Intent],
    ) -> ListingState:
        """Resolve a killed run's journal: adopt what landed, forget what did not."""
        for intent in intents:
            if intent.id is None:  # pragma: no cover - stored intents always have ids
                continue
            ctx = context(entry, state, entry.desired)
            found = await adapter.recover(intent.op, ctx)
            operation = f"recover {intent.op.describe()}"
            if found is None:
                audit = AuditEntry(state.key, operation, "not_found", self.run_id)
                self.store.save(state, audit=audit, clear_intent=intent.id)
                continue
            at_intent = intent_projection(intent, entry.desired)
            caps = adapter.capabilities
            sent = apply_result_to_sent(state.sent, at_intent, intent.op, caps)
            state = state.with_sent(sent, **absorbed(state, intent.op, found, caps, utcnow()))
            audit = AuditEntry(state.key, operation, "adopted", self.run_id, found.request_id)
            self.store.save(state, audit=audit, clear_intent=intent.id)
            log.info("intent_recovered", operation=intent.op.describe(), remote_id=found.remote_id)
        return state

    async def _run_op(
        self, adapter: WriteAdapter, op: Operation, ctx: OperationContext
    ) -> OperationResult:
        """One operation. The HTTP layer retried its requests already; here only a
        non-idempotent operation whose outcome is unknown is looked up (`recover`) and, when it
        did not land, sent again, as the account's retry policy allows."""
        policy: RetryPolicy | None = None
        attempts = 0
        while True:
            attempts += 1
            try:
                if attempts > 1:
                    found = await adapter.recover(op, ctx)
                    if found is not None:
                        log.info("operation_recovered", operation=op.describe())
                        return found
                return await adapter.apply(op, ctx)
            except UnknownOutcomeError as exc:
                if op.idempotent:
                    raise
                if policy is None:
                    policy = RetryPolicy.from_settings(self.pool.settings(exc.portal))
                wait = policy.wait(exc, attempts, safe_to_resend=True)
                if wait is None:
                    raise
                report(
                    RetryEvent(
                        exc.portal, exc.account or "", op.describe(), attempts, wait, "unknown"
                    )
                )
                log.info("operation_retry", operation=op.describe(), attempt=attempts, wait=wait)
                await asyncio.sleep(wait)

    def _failure(
        self, entry: PlannedEntry, key: StateKey, state: ListingState, exc: ListsyncError
    ) -> EntryResult:
        """Record what an adapter raised for this listing (`listsync.adapter` has the table)."""
        latest = self.store.get(key) or state
        error = (type(exc).__name__, str(exc))
        if isinstance(exc, InvalidListingError):
            log.warning("listing_blocked", error_class=error[0], problems=len(exc.issues))
            return self._recorder.ended(entry, latest, Outcome.BLOCKED, error, exc.issues)
        if isinstance(exc, RetryableError) and not isinstance(exc, UnknownOutcomeError):
            return self._recorder.ended(entry, latest, Outcome.UNAVAILABLE, error)
        if isinstance(exc, AuthenticationError):
            message = error[1]
            if f"account {key.account!r}" not in message:
                message = f"{key.portal} account {key.account!r}: {message}"
            self._auth_failed[(key.portal, key.account)] = message
            error = (error[0], message)
        log.warning("listing_failed", error_class=error[0], error=error[1])
        return self._recorder.ended(entry, latest, Outcome.FAILED, error)
