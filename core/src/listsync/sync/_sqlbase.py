"""What the SQLite and PostgreSQL state stores share: their rows, their statements' order, and
how a failure becomes a `StateStoreError`.

Both stores keep the same tables (the PostgreSQL ones prefixed `listsync_`): one state row per
listing and portal account, the sent projection whole (`sent_projection`), the journal, and
the audit trail, whose rows also carry the sent projection's steps. `RowStore` holds every
method that only runs those statements; each store adds its connection, its transactions, its
lease and its schema, and names its statements in a module (`_sqlschema`, `_pgschema`) with
the same names.

Recording an operation (`save`) writes, in the store's one transaction:

- the state row: for a step, a small UPDATE conditional on the stored position (`sent_base`,
  `sent_steps`); for a whole projection, the row and the projection (an upsert each);
- one audit row, which holds the operation's entry *and* the step (what changed in the sent
  projection, `listsync.sync._sent`): the step names its position (`sent_base`, `sent_seq`);
  a step saved without an entry is a row without an operation, which `audit()` skips;
- the journal: the intent cleared and the next one journalled in place (one UPDATE).

A record read part-way (after a killed run) folds the steps of its base: for each position
1..`sent_steps`, the newest row (a position written again after the store went back to it
replaces the older row; steps of other bases are history only). Writing the projection whole
under a new base thus leaves nothing to delete.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import update_wrapper
from types import ModuleType
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

from listsync.errors import StateStoreError
from listsync.sync import _sqlrows as rows
from listsync.sync._sent import SentRecord, fold_steps, new_base
from listsync.sync._store import AuditEntry, Intent, ListingState, StateKey, holds_text_of

__all__ = ["RowStore", "guarded", "writing"]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="RowStore")


def guarded(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Reads: a failure of the storage, or a record that does not parse, is a
    `StateStoreError`."""

    def guarded(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except self.READ_ERRORS as exc:
            raise self._error(exc) from self._cause(exc)

    update_wrapper(guarded, method)
    return guarded


def writing(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Writes: refused on a store that cannot take them; a failure breaks the store."""

    def writing(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._refusal is not None:
            raise self._refusal
        try:
            return method(self, *args, **kwargs)
        except self.WRITE_ERRORS as exc:
            raise self._broke(exc) from self._cause(exc)

    update_wrapper(writing, method)
    return writing


_NO_ROWS: list[tuple[Any, ...]] = []
"""The rows of a listing `records_for` found nothing for (shared, never changed)."""


class _Found(Mapping[str, list[ListingState]]):
    """What `records_for` answers: the rows found per external_ref, read into states when
    asked for."""

    __slots__ = ("_store", "rows")

    def __init__(self, store: RowStore, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        self._store = store
        self.rows = rows

    def __getitem__(self, ref: str) -> list[ListingState]:
        found = self.rows[ref]
        return self._store._states(found) if found else []

    def get(self, ref: str, default: Any = None) -> Any:  # one call, not `Mapping.get`'s two
        found = self.rows.get(ref)
        if found is None:
            return default
        return self._store._states(found) if found else []

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class RowStore:
    """The statements both stores run, over `self._db` (a DB-API-like connection whose
    `execute(query, params)` returns a cursor) and `self.sql` (the statements' module).

    A subclass sets `sql`, `READ_ERRORS`, `WRITE_ERRORS`, `_db`, `path`, `exists`, and
    provides `_error`, `transaction`, `_insert_intent` and `_select_for`.
    """

    sql: ClassVar[ModuleType]
    READ_ERRORS: ClassVar[tuple[type[BaseException], ...]]
    """What reading a record can raise: the storage's errors, and a record that does not parse."""
    WRITE_ERRORS: ClassVar[tuple[type[BaseException], ...]]
    CHAIN_CAUSE: ClassVar[bool] = True
    """Whether a `StateStoreError` carries the storage's exception as its cause (PostgreSQL's
    may name the URL with its password: not chained)."""

    path: str
    exists: bool
    _db: Any
    _lock: threading.RLock
    _refusal: StateStoreError | None

    # -- failures ------------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> StateStoreError:
        raise NotImplementedError

    def _cause(self, exc: BaseException) -> BaseException | None:
        return exc if self.CHAIN_CAUSE else None

    def _broke(self, exc: BaseException) -> StateStoreError:
        """A write failed: this error now answers every later write at once."""
        error = self._error(exc)
        self._refusal = error
        return error

    # -- what a subclass provides --------------------------------------------------------------
    def transaction(self) -> Any:
        raise NotImplementedError

    def _insert_intent(self, values: tuple[Any, ...]) -> int:
        """INSERT one journal row; its id."""
        raise NotImplementedError

    def _select_for(self, refs: list[str]) -> Iterator[tuple[Any, ...]]:
        """The state rows of the listings `refs`, ordered as `records` orders them."""
        raise NotImplementedError

    def _before_autocommit(self) -> None:
        """Before a write committed on its own (not in `transaction()`)."""

    # -- listing state -------------------------------------------------------------------------
    @guarded
    def get(self, key: StateKey) -> ListingState | None:
        if not self.exists:
            return None
        with self._lock:
            row = self._db.execute(self.sql.GET_STATE, key).fetchone()
            return None if row is None else self._read(row)

    @guarded
    def records(
        self, external_ref: str | None = None, *, portal: str | None = None
    ) -> Iterator[ListingState]:
        if not self.exists:
            return iter(())
        where, args = [], []
        mark = self.sql.PARAM
        if external_ref is not None:
            where.append(f"s.external_ref = {mark}")
            args.append(external_ref)
        if portal is not None:
            where.append(f"s.portal = {mark}")
            args.append(portal)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            found = self._db.execute(f"{self.sql.SELECT_STATE}{clause}{self.sql.ORDER}", args)
            states = [self._read(row) for row in found.fetchall()]
        return iter(states)

    @guarded
    def records_for(self, external_refs: Iterable[str]) -> Mapping[str, list[ListingState]]:
        """`records(ref)` for many listings (the planner's window) in one statement or a
        few: external_ref -> its records (in the order `records` gives them).

        The rows are read into states when a listing's records are asked for (`found[ref]`,
        each time it is asked), not all at once: the planner looks the records of a hundred
        lines up before it parses them, and rows of text and numbers kept meanwhile cost the
        garbage collector nothing, where states with their projections would outlive its young
        generations (as listings kept for a window do, see `listsync.sync._plan.WINDOW`).
        """
        found = _Found(self, dict.fromkeys(external_refs, _NO_ROWS))
        if not self.exists or not found.rows:
            return found
        held = found.rows
        with self._lock:
            for row in self._select_for(list(held)):
                ref = row[2]
                if held[ref]:
                    held[ref].append(row)
                else:
                    held[ref] = [row]
        return found

    @guarded
    def _states(self, found: list[tuple[Any, ...]]) -> list[ListingState]:
        with self._lock:
            return [self._read(row) for row in found]

    @writing
    def save(
        self,
        state: ListingState,
        *,
        audit: AuditEntry | None = None,
        clear_intent: int | None = None,
        intent: Intent | None = None,
    ) -> int | None:
        with self.transaction():
            step = self._write_state(state)
            if audit is not None or step is not None:
                self._db.execute(self.sql.INSERT_AUDIT, rows.audit_row(state, audit, step))
            return self._journal(clear_intent, intent)

    def _write_state(self, state: ListingState) -> SentRecord | None:
        """The state row, and the sent projection whole when it is not one step past the
        stored position; the record whose step is still to write (in the audit row)."""
        record = state.sent_record
        if (
            record is None
            or not holds_text_of(state, record)
            or record.item_ids is not state.item_ids
        ):  # no record, or the state was changed without one: written whole under a new id
            self._write_whole(state, new_base() if state.sent_json is not None else None)
            return None
        if not record.new:
            stepped = record.step is not None
            position = (record.base, record.depth - 1 if stepped else record.depth)
            values = (*rows.small_row(state, record), *position)
            if self._db.execute(self.sql.UPDATE_STATE, values).rowcount == 1:
                return record if stepped else None
        # Written whole: a new projection under its own id; any other under a new id, so that
        # no copy of a position the database left can match a later UPDATE, and no step of
        # another branch of that id can be folded into it.
        self._write_whole(state, record.base if record.new else new_base())
        return None

    def _write_whole(self, state: ListingState, base: int | None) -> None:
        self._db.execute(self.sql.UPSERT_STATE, rows.state_to_row(state, base))
        if state.sent_json is None:
            self._db.execute(self.sql.DELETE_WHOLE, state.key)
        else:
            self._db.execute(self.sql.UPSERT_WHOLE, (*state.key, state.sent_json))

    def _read(self, row: tuple[Any, ...]) -> ListingState:
        """A state read back; its steps are folded in (a listing a killed run left part-way)."""
        base, depth, whole = row[17:]
        item_ids: dict[str, str] = json.loads(row[5])
        if whole is None:
            return rows.state_from_row(row, None, item_ids, None)
        if depth == 0:
            return rows.state_from_row(row, whole, item_ids, SentRecord(base, 0, whole, item_ids))
        newest: dict[int, str] = {}  # position -> its newest step
        for seq, step in self._db.execute(self.sql.SELECT_STEPS, (*row[:3], base, depth)):
            newest[seq] = step
        if sorted(newest) != list(range(1, depth + 1)):
            raise KeyError(f"steps of {row[2]} missing: {depth} recorded")
        steps = [newest[seq] for seq in range(1, depth + 1)]
        sent, item_ids = fold_steps(whole, steps, item_ids)
        text = sent.model_dump_json()
        record = SentRecord(base, depth, text, item_ids, projection=sent)
        return rows.state_from_row(row, text, item_ids, record)

    # -- journal -------------------------------------------------------------------------------
    @writing
    def add_intent(self, intent: Intent) -> int:
        with self._lock:  # one INSERT: durable when it returns, unless in `transaction()`
            self._before_autocommit()
            return self._insert_intent((*intent.key, *rows.intent_values(intent)))

    def _journal(self, clear_intent: int | None, intent: Intent | None) -> int | None:
        """Clear one intent and journal another (in place: one row written, not two)."""
        if intent is not None and clear_intent is not None:
            values = (*rows.intent_values(intent), clear_intent, *intent.key)
            if self._db.execute(self.sql.REUSE_INTENT, values).rowcount == 1:
                return clear_intent
        if clear_intent is not None:
            self._db.execute(self.sql.DELETE_INTENT, (clear_intent,))
        if intent is None:
            return None
        return self._insert_intent((*intent.key, *rows.intent_values(intent)))

    @guarded
    def intents(self, key: StateKey) -> list[Intent]:
        if not self.exists:
            return []
        with self._lock:
            found = self._db.execute(self.sql.SELECT_INTENTS, tuple(key)).fetchall()
        return [
            Intent(
                key=key,
                op=rows.OPERATION_JSON.validate_json(op_json),
                item=rows.ITEM_JSON.validate_json(item_json) if item_json else None,
                run_id=run_id,
                created_at=rows.when(created_at),
                id=intent_id,
            )
            for intent_id, op_json, item_json, run_id, created_at in found
        ]

    @writing
    def clear_intent(self, intent_id: int) -> None:
        with self._lock:
            self._before_autocommit()
            self._db.execute(self.sql.DELETE_INTENT, (intent_id,))

    # -- audit ---------------------------------------------------------------------------------
    @guarded
    def audit(
        self, external_ref: str, *, portal: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        if not self.exists:
            return []
        mark = self.sql.PARAM
        query = self.sql.SELECT_AUDIT
        args: list[Any] = [external_ref]
        if portal is not None:
            query += f" AND portal = {mark}"
            args.append(portal)
        query += f" ORDER BY id DESC LIMIT {mark}"
        args.append(limit)
        with self._lock:
            found = self._db.execute(query, args).fetchall()
        return [
            AuditEntry(
                key=StateKey(p, a, r),
                operation=op,
                outcome=outcome,
                run_id=run_id,
                request_id=request_id,
                message=message,
                at=rows.when(at),
            )
            for at, run_id, p, a, r, op, outcome, request_id, message in reversed(found)
        ]
